#!/usr/bin/env node
// The `nagaya` command: `nagaya serve` runs the API and/or a worker; every other command talks
// to the REST API at NAGAYA_URL with NAGAYA_TOKEN. Human tables by default, --json for scripts.
// This file reads the options and hands each command to its module (container-commands.ts, ...).
import { parseArgs } from 'node:util';
import { ApiError, ERRORS, isErrorCode } from '@nagaya/contract';
import { ApiClient } from './api-client';
import { infoCommand, launchCommand, lifecycleCommand, listCommand } from './container-commands';
import { cpCommand } from './cp-command';
import { eventsCommand } from './event-commands';
import { execCommand } from './exec-command';
import { EXIT, exitCodeLegend } from './exit-codes';
import { networksCommand, nodesCommand } from './fleet-commands';
import { imagesCommand } from './image-commands';
import { jobsCommand } from './job-commands';
import { logsCommand } from './logs-command';
import { allocationsCommand, poolsCommand } from './pool-commands';
import { auditCommand, projectsCommand } from './project-commands';
import { runCommand, runsCommand } from './run-commands';
import { serve } from './serve-command';
import { serviceCommand } from './service-commands';
import { statsCommand } from './stats-command';
import { tokensCommand, whoamiCommand } from './token-commands';
import { validationMessage } from './validation-message';
import { volumesCommand } from './volume-commands';

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

  switch (verb) {
    case 'launch':
      return launchCommand(client, rest, values, command, out);
    case 'list':
      return listCommand(client, values, all, out);
    case 'info':
      return infoCommand(client, rest, out);
    case 'logs':
      return logsCommand(client, rest, values);
    case 'exec':
      return execCommand(client, rest, values, command);
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
    case 'delete':
      return lifecycleCommand(client, verb, rest, values, out);
    case 'pools': {
      await poolsCommand(client, out);
      return EXIT.ok;
    }
    case 'allocations': {
      await allocationsCommand(client, values, out);
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
      await jobsCommand(client, values.container, all, out);
      return EXIT.ok;
    }
    case 'images': {
      await imagesCommand(client, rest, values, all, out);
      return EXIT.ok;
    }
    case 'whoami': {
      await whoamiCommand(client, out);
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
