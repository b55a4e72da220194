#!/usr/bin/env node
// The `nagaya` command: `nagaya serve` runs the API and/or a worker; every other command talks
// to the REST API at NAGAYA_URL with NAGAYA_TOKEN. Human tables by default, --json for scripts.
import { parseArgs } from 'node:util';
import {
  ApiError,
  CONTAINER_STATES,
  ERRORS,
  isErrorCode,
  lastExitText,
  RESTART_POLICIES,
  restartPolicyText,
  stopText,
  type ContainerMountView,
  type ContainerNetworkView,
  type LastExitView,
  type RestartPolicyView,
} from '@nagaya/contract';
import { ApiClient } from './api-client';
import { interactiveExec } from './exec-command';
import { age, table } from './format';
import { networksCommand, nodesCommand } from './fleet-commands';
import { imagesCommand } from './image-commands';
import { auditCommand, projectsCommand } from './project-commands';
import { tokensCommand } from './token-commands';
import { validationMessage } from './validation-message';
import { parsePublish } from './publish-spec';
import { volumesCommand } from './volume-commands';
import { runCommand, runsCommand } from './run-commands';
import { mountsOption } from './mount-option';
import { eventsCommand, watchTable } from './event-commands';
import { EXIT, exitCodeLegend } from './exit-codes';
import { decimalOption, sinceOption, sizeOption, usageError, wholeNumberOption } from './options';
import { serve } from './serve-command';
import { serviceCommand } from './service-commands';
import { statsCommand } from './stats-command';
import { cpCommand } from './cp-command';

const USAGE = `usage: nagaya <command> [options]

  serve [--role all|api|worker]          run the API and/or a worker node (env: see README)
  up | down                              start (npm run up) or stop the service on this machine;
                                         containers keep running and are re-adopted by the next up
  launch <name> [--image busybox] [--node N] [--memory SIZE] [--pids N] [--cpus N]
         [--shared] [--size N] [--key K] [--env K=V]... [--nesting] [--network bridge|none]
         [--publish [hostIp:]hostPort:containerPort[/tcp|udp]]... [--restart no|on-failure[:N]|always|unless-stopped]
         [--init] [--stop-signal SIG] [--stop-timeout SECONDS]
         [--mount volume:NAME:/path[:ro]]... [--mount host:/dir:/path[:ro][:shift]]... [--wait] [-- command...]
                                         (host: admin tokens of every project; shift idmaps its owners 0..65535)
  list [--node N] [--state S] [--watch] | info <name> | logs <name> [-f] [--tail LINES] [--since 10m|TIME] [--timestamps]
                                         list --watch: redrawn on each container change
  events [--type T[,T]] [--container N] [--since ID] [--json]
                                         changes as they happen (container, job, node, image, volume;
                                         container.state, ...); resumes by itself after a lost stream
  exec [-i] [-t] <name> [--timeout MS] [--env K=V]... -- command...
                                         in the container's env, directory and user; output byte for byte;
                                         -i feeds stdin, -t gives a pty (nagaya exec -it web1 -- sh: a shell)
  cp <local> <name>:/path | cp <name>:/path <local>
                                         copy a file in or out of a running container (binary-safe); a local
                                         directory is unpacked beneath the container's directory
  stats [name] [--no-stream]             memory, CPU, pids and writable layer of a running container (or of
                                         every running one of the project), refreshed every 2 s until Ctrl-C
  start|stop|restart <name> [--timeout SECONDS] [--wait]
  delete <name> [--force] [--wait]       a running container only with --force (SIGKILL at once)
  pools | allocations [--pool P] [--history] | nodes | networks | jobs [--container N] | whoami
  nodes evacuate <node>                  no new containers there; move its pending and stopped ones
  nodes remove <node> --dead [--release-slices]
                                         a dead node: its running containers become lost, their
                                         slices fenced (--release-slices: only once the host is off)
  images [list] | images info|delete <name>
  images import <file> [--name N]        an OCI layout, docker save or rootfs tarball (tar, gzip, zstd);
                                         default name: the file's name without .tar/.gz/.zst
  images pull <ref> [--name N] [--username U --password-stdin] [--quiet]
                                         pull [registry/]repository[:tag][@digest] on a worker and wait,
                                         bytes on stderr; default name: the last part and tag (alpine:3)
  run <image> [--timeout SECONDS] [--env K=V]... [--memory SIZE] [--pids N] [--cpus N] [--network bridge|none]
      [--retries N] [--priority 0-100] [--delay SECONDS] [--schedule CRON] [--stdin] [--output-limit SIZE]
      [--idempotency-key K] [--mount volume:NAME:/path[:ro]]... [--mount host:/dir:/path[:ro][:shift]]...
      [--detach] -- command...
                                         a fresh container with a fresh slice runs it to its exit; waits,
                                         prints its output and exits with its code (124: timed out);
                                         --detach prints the run's id; --schedule makes a cron schedule;
                                         a run that mounts a volume runs on the volume's node
  runs [list] [--state S] [--since ISO-TIME] [--limit N] | runs info|cancel <id>
  runs output <id> [--follow]            --follow: as it comes, until the run ends
  runs schedules | runs unschedule <id>
  volumes [list] | volumes show|delete <name>
  volumes create <name> [--node N] [--size SIZE]
                                         a directory on one node, idmapped onto each container that mounts
                                         it; --size only where the node's disk keeps project quotas
  tokens [list] | tokens create <name> --role admin|operator|viewer [--expires SECONDS] [--global]
         | tokens revoke <id>
  projects [list] | projects show|delete <name>
  projects create <name> [--description D] [quotas] [--raw-idmap]
  projects set <name> [--description D] [quotas, each N or none] [--raw-idmap true|false]
         quotas: --containers N --slices N --memory SIZE --cpus N --processes N --disk SIZE
                 --network-interfaces N
  audit [--since ISO-TIME] [--limit N]   the audit trail, newest first (of the selected project only, if one is)

sizes:  512M, 2G, 1.5GiB (k, m, g, t, with or without iB: powers of 1024, as Docker reads them),
        500MB (KB, MB, GB, TB: powers of 1000) or 1048576 (bytes)
projects: --project P (or NAGAYA_PROJECT; the option wins) acts in project P: containers, images,
        jobs, allocations and tokens (tokens create makes a token of P; --global: of every project).
        Default: the token's own project (default, for an admin token of every project).
        --all-projects: list, images, jobs and allocations of every project (admin of every project).
common: --json (machine output), NAGAYA_URL (default http://127.0.0.1:8080; https://... with a
        self-signed certificate: NODE_EXTRA_CA_CERTS=<its PEM file>), NAGAYA_TOKEN
exit codes: ${exitCodeLegend()}`;

/** Commands that list, and so may span every project with --all-projects. */
const LISTS = new Set(['list', 'images', 'volumes', 'jobs', 'allocations', 'runs']);

/**
 * `--raw-idmap` alone means true; `--raw-idmap true|false` (two words) is the same as
 * `--raw-idmap=true|false`. parseArgs takes an option as either a flag or a string, not both.
 */
function joinRawIdmap(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--raw-idmap') out.push(args[i]!);
    else if (args[i + 1] === 'true' || args[i + 1] === 'false') out.push(`--raw-idmap=${args[++i]}`);
    else out.push('--raw-idmap=true');
  }
  return out;
}

interface ContainerJson {
  project: string;
  name: string;
  state: string;
  node: string;
  pid: number | null;
  image: string;
  createdAt: string;
  idmap: { uid: Array<{ nsId: number; hostId: number; count: number }>; gid: Array<{ nsId: number; hostId: number; count: number }> };
  error: { code: string; message: string } | null;
  exitCode: number | null;
  network?: ContainerNetworkView;
  mounts?: ContainerMountView[];
  restartPolicy?: RestartPolicyView;
  restartCount?: number;
  lastExit?: LastExitView | null;
  init?: boolean;
  stopSignal?: string;
  stopTimeoutSeconds?: number;
}

/** A container's restart policy, restarts, last exit, init and stop, in `info`'s column (absent fields from an older server: no line). */
function lifecycleLines(c: ContainerJson): string[] {
  return [
    ...(c.restartPolicy ? [`restart: ${restartPolicyText(c.restartPolicy)}, ${c.restartCount ?? 0} restart(s) by it`] : []),
    ...(c.lastExit !== undefined ? [`exited:  ${c.lastExit ? `${lastExitText(c.lastExit)} at ${c.lastExit.finishedAt}` : '-'}`] : []),
    ...(c.init !== undefined ? [`init:    ${c.init ? 'yes (tini as PID 1)' : 'no'}`] : []),
    ...(c.stopSignal !== undefined && c.stopTimeoutSeconds !== undefined
      ? [`stop:    ${stopText(c.stopSignal, c.stopTimeoutSeconds)}`]
      : []),
  ];
}

function uidRange(c: ContainerJson): string {
  const base = c.idmap.uid.find((l) => l.nsId === 0) ?? c.idmap.uid[0];
  return base ? `${base.hostId}-${base.hostId + base.count - 1}` : '-';
}

/** The create request's network from --network and --publish (a publish implies bridge). */
function networkOption(mode: string | undefined, publish: string[] | undefined): { network?: unknown } {
  if (mode === undefined && !publish?.length) return {};
  const ports = (publish ?? []).map((spec) => {
    const p = parsePublish(spec);
    if (!p)
      throw new ApiError(0, 'INVALID_INPUT', `--publish wants [hostIp:]hostPort:containerPort[/tcp|udp], not ${JSON.stringify(spec)}`);
    return p;
  });
  return { network: { mode: mode ?? 'bridge', ...(ports.length ? { publish: ports } : {}) } };
}

/** One line for a container's network in `nagaya info`. */
function networkLine(n: ContainerNetworkView | undefined): string {
  if (!n || n.mode === 'none') return 'none (loopback only)';
  return n.ip ? `bridge ${n.ip} via ${n.gateway} on ${n.bridge}, mac ${n.mac}` : 'bridge (no address while not running)';
}

async function main(argv: string[]): Promise<number> {
  const split = argv.indexOf('--');
  const own = split === -1 ? argv : argv.slice(0, split);
  const command = split === -1 ? [] : argv.slice(split + 1);
  const { values, positionals } = parseArgs({
    args: joinRawIdmap(own),
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      wait: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      role: { type: 'string' },
      image: { type: 'string' },
      node: { type: 'string' },
      memory: { type: 'string' },
      pids: { type: 'string' },
      cpus: { type: 'string' },
      shared: { type: 'boolean' },
      size: { type: 'string' },
      key: { type: 'string' },
      env: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      tail: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      timestamps: { type: 'boolean' },
      pool: { type: 'string' },
      history: { type: 'boolean' },
      container: { type: 'string' },
      type: { type: 'string' },
      watch: { type: 'boolean' },
      expires: { type: 'string' },
      nesting: { type: 'boolean' },
      project: { type: 'string' },
      'all-projects': { type: 'boolean' },
      global: { type: 'boolean' },
      description: { type: 'string' },
      'raw-idmap': { type: 'string' },
      containers: { type: 'string' },
      slices: { type: 'string' },
      processes: { type: 'string' },
      disk: { type: 'string' },
      'network-interfaces': { type: 'string' },
      network: { type: 'string' },
      publish: { type: 'string', multiple: true },
      mount: { type: 'string', multiple: true },
      since: { type: 'string' },
      limit: { type: 'string' },
      dead: { type: 'boolean' },
      'release-slices': { type: 'boolean' },
      name: { type: 'string' },
      username: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      state: { type: 'string' },
      force: { type: 'boolean' },
      restart: { type: 'string' },
      init: { type: 'boolean' },
      'stop-signal': { type: 'string' },
      'stop-timeout': { type: 'string' },
      detach: { type: 'boolean', short: 'd' },
      retries: { type: 'string' },
      priority: { type: 'string' },
      delay: { type: 'string' },
      schedule: { type: 'string' },
      stdin: { type: 'boolean' },
      'output-limit': { type: 'string' },
      'idempotency-key': { type: 'string' },
      'no-stream': { type: 'boolean' },
      interactive: { type: 'boolean', short: 'i' },
      tty: { type: 'boolean', short: 't' },
    },
  });
  const [verb, ...rest] = positionals;
  if (!verb || values.help) {
    console.log(USAGE);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (verb === 'serve') return serve(values.role);
  if (verb === 'up' || verb === 'down') return serviceCommand(verb);

  // The project: --project, else NAGAYA_PROJECT; --all-projects and --global (explicit options) set the variable aside.
  const all = values['all-projects'] === true;
  if (all && !LISTS.has(verb)) throw new ApiError(0, 'INVALID_INPUT', `--all-projects is for ${[...LISTS].join(', ')}, not ${verb}`);
  if (values.global && !(verb === 'tokens' && rest[0] === 'create'))
    throw new ApiError(0, 'INVALID_INPUT', '--global is for tokens create (a token of every project)');
  if (values.project !== undefined && (all || values.global))
    throw new ApiError(0, 'INVALID_INPUT', `give --project or --${all ? 'all-projects' : 'global'}, not both`);
  const project = all || values.global ? undefined : (values.project ?? (process.env.NAGAYA_PROJECT || undefined));
  const client = new ApiClient(process.env.NAGAYA_URL ?? 'http://127.0.0.1:8080', process.env.NAGAYA_TOKEN, {
    ...(project === undefined ? {} : { project }),
    allProjects: all,
  });
  const out = (data: unknown, human: () => string) => console.log(values.json ? JSON.stringify(data, null, 2) : human());
  const name = () => {
    if (!rest[0]) throw new ApiError(0, 'INVALID_INPUT', `${verb} needs a container name`);
    return encodeURIComponent(rest[0]);
  };
  const waitFor = async (job: { id: string } | null) => {
    if (!values.wait || !job) return; // no job: done at once (a container that never started)
    const done = await client.waitForJob(job.id, 120_000);
    if (done.state === 'failed') throw new ApiError(0, 'INTERNAL', `job ${job.id} failed: ${done.error}`);
  };

  switch (verb) {
    case 'launch': {
      const limits = {
        memoryBytes: sizeOption('memory', values.memory),
        pids: wholeNumberOption('pids', values.pids),
        cpus: decimalOption('cpus', values.cpus),
      };
      const env = Object.fromEntries((values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const body = {
        name: rest[0],
        image: values.image ?? 'busybox',
        ...(command.length ? { command } : {}),
        ...(Object.keys(env).length ? { env } : {}),
        ...(Object.values(limits).some((v) => v !== undefined) ? { limits: JSON.parse(JSON.stringify(limits)) } : {}),
        ...(values.shared || values.size || values.key
          ? {
              idmap: JSON.parse(
                JSON.stringify({
                  isolated: values.shared ? false : undefined,
                  size: wholeNumberOption('size', values.size),
                  key: values.key,
                }),
              ),
            }
          : {}),
        ...(values.node ? { node: values.node } : {}),
        ...(values.nesting ? { security: { nesting: true } } : {}),
        ...networkOption(values.network, values.publish),
        ...(values.restart ? { restartPolicy: restartPolicyOption(values.restart) } : {}),
        ...(values.init ? { init: true } : {}),
        ...(values['stop-signal'] ? { stopSignal: values['stop-signal'].toUpperCase().replace(/^(?!SIG)/, 'SIG') } : {}),
        ...(values['stop-timeout'] ? { stopTimeoutSeconds: wholeNumberOption('stop-timeout', values['stop-timeout']) } : {}),
        ...mountsOption(values.mount),
      };
      const res = await client.post<{ container: ContainerJson; job: { id: string } }>('/containers', body);
      await waitFor(res.job);
      const info = values.wait ? await client.get<ContainerJson>(`/containers/${encodeURIComponent(body.name ?? '')}`) : res.container;
      out(
        values.wait ? info : res,
        () => `${info.name}: ${info.state} on ${info.node} (job ${res.job.id})${info.pid ? `, pid ${info.pid}` : ''}`,
      );
      return EXIT.ok;
    }
    case 'list': {
      const q = new URLSearchParams();
      if (values.node !== undefined) q.set('node', values.node);
      if (values.state !== undefined) {
        if (!(CONTAINER_STATES as readonly string[]).includes(values.state))
          throw usageError(`--state takes one of ${CONTAINER_STATES.join(', ')}, not ${JSON.stringify(values.state)}`);
        q.set('state', values.state);
      }
      const containerTable = (containers: ContainerJson[]) =>
        table(
          containers.map((c) => ({ ...c, uids: uidRange(c), ip: c.network?.ip ?? '-', age: age(c.createdAt) })),
          [...(all ? ['project'] : []), 'name', 'state', 'node', 'pid', 'uids', 'ip', 'image', 'age'],
        );
      const list = async () => (await client.get<{ containers: ContainerJson[] }>(`/containers${q.size ? `?${q}` : ''}`)).containers;
      if (values.watch) {
        await watchTable(client, async () => {
          const containers = await list();
          return values.json ? JSON.stringify(containers) : containerTable(containers);
        });
        return EXIT.ok;
      }
      const containers = await list();
      out(containers, () => containerTable(containers));
      return EXIT.ok;
    }
    case 'info': {
      const c = await client.get<ContainerJson>(`/containers/${name()}`);
      out(c, () =>
        [
          `name:    ${c.name}`,
          `project: ${c.project}`,
          `state:   ${c.state}${c.error ? ` (${c.error.code}: ${c.error.message})` : ''}`,
          `node:    ${c.node}`,
          `pid:     ${c.pid ?? '-'}`,
          `image:   ${c.image}`,
          `exit:    ${c.exitCode ?? '-'}`,
          `network: ${networkLine(c.network)}`,
          ...lifecycleLines(c),
          ...(c.mounts ?? []).map((m) =>
            'volume' in m
              ? `  mount volume ${m.volume} at ${m.path}${m.readOnly ? ' (read-only)' : ''}`
              : `  mount host ${m.hostPath} at ${m.path}${m.readOnly ? ' (read-only)' : ''}${m.shift ? ' (shifted)' : ''}`,
          ),
          ...(c.network?.publish ?? []).map((p) => `  publish ${p.hostIp ?? '0.0.0.0'}:${p.hostPort} -> ${p.containerPort}/${p.protocol}`),
          'uid_map:',
          ...c.idmap.uid.map((l) => `  ${l.nsId} ${l.hostId} ${l.count}`),
          'gid_map:',
          ...c.idmap.gid.map((l) => `  ${l.nsId} ${l.hostId} ${l.count}`),
        ].join('\n'),
      );
      return EXIT.ok;
    }
    case 'logs': {
      const query = new URLSearchParams();
      if (values.tail) query.set('tail', String(wholeNumberOption('tail', values.tail)));
      if (values.since) query.set('since', sinceOption(values.since));
      if (values.timestamps) query.set('timestamps', '1');
      if (values.follow) {
        query.set('follow', '1');
        // ends when the container exits (the server ends the answer) or on Ctrl-C
        await client.stream(`/containers/${name()}/logs?${query}`, (chunk) => process.stdout.write(chunk));
        return EXIT.ok;
      }
      const res = await client.get<{ log: string }>(`/containers/${name()}/logs${query.size ? `?${query}` : ''}`);
      if (values.json) console.log(JSON.stringify(res));
      else process.stdout.write(res.log);
      return EXIT.ok;
    }
    case 'exec': {
      if (command.length === 0) throw new ApiError(0, 'INVALID_INPUT', 'exec needs a command after --');
      const env = Object.fromEntries((values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      if (values.interactive || values.tty) {
        return await interactiveExec(client, { name: name(), command, env, tty: Boolean(values.tty), stdin: Boolean(values.interactive) });
      }
      // --json shows text; otherwise the bytes come as base64 and are written as they were
      const res = await client.post<{ exitCode: number | null; stdout: string; stderr: string }>(`/containers/${name()}/exec`, {
        command,
        ...(Object.keys(env).length ? { env } : {}),
        ...(values.timeout ? { timeoutMs: wholeNumberOption('timeout', values.timeout) } : {}),
        ...(values.json ? {} : { encoding: 'base64' }),
      });
      if (values.json) {
        console.log(JSON.stringify(res));
        return EXIT.ok;
      }
      process.stdout.write(Buffer.from(res.stdout, 'base64'));
      process.stderr.write(Buffer.from(res.stderr, 'base64'));
      return res.exitCode ?? 128;
    }
    case 'cp': {
      await cpCommand(client, rest);
      return EXIT.ok;
    }
    case 'stats': {
      await statsCommand(client, rest[0], values);
      return EXIT.ok;
    }
    case 'start':
    case 'stop':
    case 'restart':
    case 'delete': {
      const res =
        verb === 'delete'
          ? await client.delete<{ job: { id: string } | null }>(`/containers/${name()}${values.force ? '?force=1' : ''}`)
          : await client.post<{ job: { id: string } | null }>(
              `/containers/${name()}/${verb}`,
              verb !== 'start' && values.timeout ? { timeoutSeconds: wholeNumberOption('timeout', values.timeout) } : {},
            );
      await waitFor(res.job);
      out(res, () => (res.job ? `${rest[0]}: ${verb} ${values.wait ? 'done' : 'queued'} (job ${res.job.id})` : `${rest[0]}: ${verb} done`));
      return EXIT.ok;
    }
    case 'pools': {
      const { pools } = await client.get<{
        pools: Array<{
          name: string;
          source: string;
          sliceSize: number;
          slices: Record<string, number>;
          uid: Array<{ start: number; count: number }>;
        }>;
      }>('/pools');
      out(pools, () =>
        table(
          pools.map((p) => ({ name: p.name, uids: p.uid.map((r) => `${r.start}+${r.count}`).join(','), ...p.slices, source: p.source })),
          ['name', 'uids', 'total', 'active', 'quarantined', 'free', 'outOfPool', 'source'],
        ),
      );
      return EXIT.ok;
    }
    case 'allocations': {
      const q = new URLSearchParams();
      if (values.pool) q.set('pool', values.pool);
      if (values.history) q.set('history', 'true');
      const { allocations } = await client.get<{
        allocations: Array<
          Record<string, unknown> & { uid: { start: number; count: number } | null; gid: { start: number; count: number } | null }
        >;
      }>(`/allocations${q.size ? `?${q}` : ''}`);
      out(allocations, () =>
        table(
          allocations.map((a) => ({
            ...a,
            uids: a.uid ? `${a.uid.start}-${a.uid.start + a.uid.count - 1}` : '-',
            gids: a.gid ? `${a.gid.start}-${a.gid.start + a.gid.count - 1}` : '-',
          })),
          ['pool', 'project', 'kind', 'state', 'container', 'uids', 'gids', 'key'],
        ),
      );
      return EXIT.ok;
    }
    case 'nodes': {
      await nodesCommand(client, rest, values, out);
      return EXIT.ok;
    }
    case 'networks': {
      await networksCommand(client, out);
      return EXIT.ok;
    }
    case 'events': {
      await eventsCommand(client, values);
      return EXIT.ok;
    }
    case 'jobs': {
      const { jobs } = await client.get<{ jobs: Array<Record<string, unknown>> }>(
        `/jobs${values.container ? `?container=${encodeURIComponent(values.container)}` : ''}`,
      );
      out(jobs, () => table(jobs, [...(all ? ['project'] : []), 'id', 'kind', 'container', 'image', 'node', 'state', 'error']));
      return EXIT.ok;
    }
    case 'images': {
      await imagesCommand(client, rest, values, all, out);
      return EXIT.ok;
    }
    case 'whoami': {
      const me = await client.get<{ name: string; role: string; project: string | null }>('/whoami');
      out(me, () => `${me.name}: ${me.role}, ${me.project === null ? 'of every project' : `of project ${me.project}`}`);
      return EXIT.ok;
    }
    case 'projects': {
      await projectsCommand(client, rest, values, out);
      return EXIT.ok;
    }
    case 'audit': {
      await auditCommand(client, project, values, out);
      return EXIT.ok;
    }
    case 'volumes': {
      await volumesCommand(client, rest, values, all, out);
      return EXIT.ok;
    }
    case 'run':
      return runCommand(client, rest[0], command, values, values.json === true);
    case 'runs': {
      await runsCommand(client, rest, values, all, out);
      return EXIT.ok;
    }
    case 'tokens': {
      await tokensCommand(client, rest, values, project, out);
      return EXIT.ok;
    }
    default:
      console.error(`unknown command ${verb}\n\n${USAGE}`);
      return EXIT.usage;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    if (process.argv[2] === 'serve') process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof ApiError) {
      console.error(`error: ${err.code}: ${validationMessage(err) ?? err.message}`);
      process.exitCode = isErrorCode(err.code) ? ERRORS[err.code].exitCode : EXIT.error;
    } else {
      console.error(`error: ${(err as Error)?.message ?? err}`);
      // parseArgs' own refusals (an unknown option, a value missing or starting with a dash) are usage errors
      process.exitCode = String((err as { code?: string })?.code).startsWith('ERR_PARSE_ARGS_') ? EXIT.usage : EXIT.error;
    }
    // A serve that failed half-way still holds its Redis and Postgres connections open: exit, so
    // a supervisor (or `npm run up`) sees the failure instead of a process that serves nothing.
    if (process.argv[2] === 'serve') process.exit(process.exitCode);
  },
);

/** `--restart on-failure:3` as Docker writes it: the policy's name, and maxRetries after a colon. */
function restartPolicyOption(text: string): { name: string; maxRetries?: number } {
  const [name = '', retries] = text.split(':', 2);
  if (
    !(RESTART_POLICIES as readonly string[]).includes(name) ||
    (retries !== undefined && (name !== 'on-failure' || !/^\d+$/.test(retries)))
  )
    throw usageError(`--restart takes no, on-failure[:N], always or unless-stopped, not ${JSON.stringify(text)}`);
  return { name, ...(retries !== undefined ? { maxRetries: Number(retries) } : {}) };
}
