// `nagaya launch`, `list`, `info`, `start`, `stop`, `restart` and `delete`: a project's containers
// and their lifecycle (the create request itself is built in launch-request.ts).
import {
  ApiError,
  CONTAINER_STATES,
  lastExitText,
  restartPolicyText,
  stopText,
  type ContainerMountView,
  type ContainerNetworkView,
  type LastExitView,
  type RestartPolicyView,
} from '@nagaya/contract';
import type { ApiClient } from './api-client';
import { watchTable } from './event-commands';
import { EXIT } from './exit-codes';
import { age, table, type Out } from './format';
import { launchRequest, type LaunchOptions } from './launch-request';
import { usageError, wholeNumberOption } from './options';

/** The options of the container commands, as parseArgs gives them. */
export interface ContainerOptions extends LaunchOptions {
  json?: boolean | undefined;
  wait?: boolean | undefined;
  state?: string | undefined;
  watch?: boolean | undefined;
  force?: boolean | undefined;
  timeout?: string | undefined;
}

/** A container as GET /containers answers it (fields an older server lacks are optional). */
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

/** The host uids of the container's root and up (its map's line for uid 0), as `first-last`. */
function uidRange(c: ContainerJson): string {
  const base = c.idmap.uid.find((l) => l.nsId === 0) ?? c.idmap.uid[0];
  return base ? `${base.hostId}-${base.hostId + base.count - 1}` : '-';
}

/** One line for a container's network in `nagaya info`. */
function networkLine(n: ContainerNetworkView | undefined): string {
  if (!n || n.mode === 'none') return 'none (loopback only)';
  return n.ip ? `bridge ${n.ip} via ${n.gateway} on ${n.bridge}, mac ${n.mac}` : 'bridge (no address while not running)';
}

/** The container a command names (its first argument), for a URL; INVALID_INPUT when there is none. */
export function containerName(verb: string, args: string[]): string {
  if (!args[0]) throw new ApiError(0, 'INVALID_INPUT', `${verb} needs a container name`);
  return encodeURIComponent(args[0]);
}

/** With --wait, waits for the job to end and throws if it failed; no job: done at once (a container that never started). */
async function waitFor(client: ApiClient, options: ContainerOptions, job: { id: string } | null): Promise<void> {
  if (!options.wait || !job) return;
  const done = await client.waitForJob(job.id, 120_000);
  if (done.state === 'failed') throw new ApiError(0, 'INTERNAL', `job ${job.id} failed: ${done.error}`);
}

/** `nagaya launch <name> [options] [-- command...]`: with --wait, shows the container once its launch has run. */
export async function launchCommand(
  client: ApiClient,
  args: string[],
  options: ContainerOptions,
  command: string[],
  out: Out,
): Promise<number> {
  const body = launchRequest(args[0], options, command);
  const res = await client.post<{ container: ContainerJson; job: { id: string } }>('/containers', body);
  await waitFor(client, options, res.job);
  const info = options.wait ? await client.get<ContainerJson>(`/containers/${encodeURIComponent(body.name ?? '')}`) : res.container;
  out(
    options.wait ? info : res,
    () => `${info.name}: ${info.state} on ${info.node} (job ${res.job.id})${info.pid ? `, pid ${info.pid}` : ''}`,
  );
  return EXIT.ok;
}

/** `nagaya list [--node N] [--state S] [--watch]`: with --watch, redrawn on each container change. */
export async function listCommand(client: ApiClient, options: ContainerOptions, all: boolean, out: Out): Promise<number> {
  const q = new URLSearchParams();
  if (options.node !== undefined) q.set('node', options.node);
  if (options.state !== undefined) {
    if (!(CONTAINER_STATES as readonly string[]).includes(options.state))
      throw usageError(`--state takes one of ${CONTAINER_STATES.join(', ')}, not ${JSON.stringify(options.state)}`);
    q.set('state', options.state);
  }
  const containerTable = (containers: ContainerJson[]) =>
    table(
      containers.map((c) => ({ ...c, uids: uidRange(c), ip: c.network?.ip ?? '-', age: age(c.createdAt) })),
      [...(all ? ['project'] : []), 'name', 'state', 'node', 'pid', 'uids', 'ip', 'image', 'age'],
    );
  const list = async () => (await client.get<{ containers: ContainerJson[] }>(`/containers${q.size ? `?${q}` : ''}`)).containers;
  if (options.watch) {
    await watchTable(client, async () => {
      const containers = await list();
      return options.json ? JSON.stringify(containers) : containerTable(containers);
    });
    return EXIT.ok;
  }
  const containers = await list();
  out(containers, () => containerTable(containers));
  return EXIT.ok;
}

/** `nagaya info <name>`: state, node, network, lifecycle, mounts, ports and id maps. */
export async function infoCommand(client: ApiClient, args: string[], out: Out): Promise<number> {
  const c = await client.get<ContainerJson>(`/containers/${containerName('info', args)}`);
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

/** `nagaya start|stop|restart|delete <name> [--timeout SECONDS] [--force] [--wait]`. */
export async function lifecycleCommand(
  client: ApiClient,
  verb: 'start' | 'stop' | 'restart' | 'delete',
  args: string[],
  options: ContainerOptions,
  out: Out,
): Promise<number> {
  const name = () => containerName(verb, args);
  const res =
    verb === 'delete'
      ? await client.delete<{ job: { id: string } | null }>(`/containers/${name()}${options.force ? '?force=1' : ''}`)
      : await client.post<{ job: { id: string } | null }>(
          `/containers/${name()}/${verb}`,
          verb !== 'start' && options.timeout ? { timeoutSeconds: wholeNumberOption('timeout', options.timeout) } : {},
        );
  await waitFor(client, options, res.job);
  out(res, () => (res.job ? `${args[0]}: ${verb} ${options.wait ? 'done' : 'queued'} (job ${res.job.id})` : `${args[0]}: ${verb} done`));
  return EXIT.ok;
}
