import { randomUUID } from 'node:crypto';
import type { Allocator } from '@nagaya/allocator';
import type { ContainerState, ContainerStatsView, ContainerView, LifecycleKind, NetworkMode } from '@nagaya/contract';
import type { CreateContainerInput } from '@nagaya/contract/schemas';
import type { CgroupUsage, ExecResult } from '@nagaya/native';
import { asNagayaError, NagayaError } from '../errors';
import { launchSettings } from '../images/image-config';
import { containerRunOf, processOptionsOf } from '../store/container-run';
import type { ImageStore } from '../images/image-store';
import { launchJobId, lifecycleQueueName, type JobQueues } from '../jobs/job-queues';
import type { AuditStore } from '../store/audit-store';
import {
  NodeNotActiveError,
  type ContainerNetwork,
  type ContainerRow,
  type ContainerStore,
  type CreatedContainer,
} from '../store/container-store';
import type { NetworkStore } from '../store/network-store';
import type { NodeStore } from '../store/node-store';
import { capacityOf, limitsBeyond } from './node-capacity';
import { NetworkedNodes } from './networked-nodes';
import { NodePlacement } from './node-placement';
import type { TokenIdentity } from '../store/token-store';
import { containerView, LIVE_ON_NODE } from './container-view';
import type { ImageRecordCache } from './image-record-cache';
import type { ImageRecord } from '../images/image-records';
import type { ContainerMounts } from './container-mounts';
import type { ExecSessionHub, ExecRelayEnd } from './exec-sessions';
import type { ExecOutMessage } from '../jobs/exec-relays';
import type { LogStreams } from './log-streams';
import type { LogStreamMessage } from '../jobs/log-followers';

/** The init a container runs when the request names none: a shell that sleeps until it is stopped. */
export const DEFAULT_COMMAND = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

/** The states of a container that runs, or is about to run again: deleting one takes force. */
const RUNS: readonly ContainerState[] = ['starting', 'running', 'stopping', 'restarting'];

/** Which states each action may start from. */
const ALLOWED_FROM: Record<Exclude<LifecycleKind, 'launch'>, ContainerState[]> = {
  start: ['stopped', 'failed'],
  stop: ['running', 'starting', 'pending', 'restarting'],
  restart: ['running', 'stopped', 'failed', 'restarting'],
  delete: ['pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'restarting', 'deleting', 'lost'],
};

export interface ContainerServiceDeps {
  containers: ContainerStore;
  nodes: NodeStore;
  allocator: Allocator;
  images: ImageStore;
  /**
   * The image records creates work from, read once per few seconds (shared with RunService). A
   * stale record cannot launch the wrong image: the create's statement checks its digest.
   */
  imageRecords: ImageRecordCache;
  queues: JobQueues;
  audit: AuditStore;
  networks: NetworkStore;
  pool: string;
  /** A node whose last heartbeat is older than this is offline. */
  nodeOfflineMs: number;
  /** pids.max of a container whose request sets none (recorded on its row, so what runs is what is shown). */
  defaultPidsMax: number;
  /** The network mode of a container whose request names none (recorded on its row). */
  defaultNetworkMode: NetworkMode;
  /** Resolves a create's mounts (volumes pin the container to their node). */
  mounts: ContainerMounts;
  /** Carries followed logs from the container's node (logs?follow=1); without it, following is UNAVAILABLE. */
  logStreams?: LogStreams;
  /** Interactive exec sessions' relays (API processes only). */
  execSessions?: ExecSessionHub;
}

/** What a logs request asks for (GET /containers/:name/logs). */
export interface LogsRequest {
  /** Only the last this many whole lines. */
  tailLines?: number;
  /** Only lines seen at or after this time, in nanoseconds since the epoch. */
  sinceNs?: bigint;
  timestamps?: boolean;
}

/** Where a followed log goes: lines as they come (bytes, their time, a position to resume after), then its end. */
export interface LogSink {
  /** Called once the node has started following, before any line. */
  started(): void;
  line(data: Buffer, timeNs: bigint, end: number): void;
  /** The stream ended: the container exited, its node fell silent or failed. */
  ended(reason: 'exited' | 'node-silent' | 'error', message?: string): void;
}

/** A followed log with no word from its node for this long is ended (its node died or lost Redis). */
const FOLLOW_SILENCE_MS = 5000;
/** What a logs request without follow reads at most (whole lines within it). */
const LOGS_MAX_BYTES = 1024 * 1024;

/** What the containers routes do: validate against the fleet, write the row, hand the job to a node. */
export class ContainerService {
  private readonly placement: NodePlacement;
  private readonly networked: NetworkedNodes;

  constructor(private readonly deps: ContainerServiceDeps) {
    this.placement = new NodePlacement(deps.nodes, deps.nodeOfflineMs);
    this.networked = new NetworkedNodes(deps.networks);
  }

  /**
   * Creates a pending container of `project` and its launch job on the chosen node. The
   * project's quotas are checked by the insert itself: past one, nothing is written or queued.
   */
  async create(
    project: string,
    input: CreateContainerInput,
    actor: TokenIdentity,
  ): Promise<{ container: ContainerView; job: { id: string } }> {
    const { containers, images, queues, pool } = this.deps;
    const network: ContainerNetwork = input.network ?? { mode: this.deps.defaultNetworkMode };
    const imageMissing = () =>
      new NagayaError('INVALID_INPUT', `image ${input.image} does not exist in project ${project}`, { field: 'image' });
    const isolated = input.idmap?.isolated ?? true;
    if (input.idmap?.key && !isolated) {
      throw new NagayaError('INVALID_INPUT', 'a sticky key needs an isolated map', { field: 'idmap.key' });
    }
    // volumes pin the container to their node
    const mounts = await this.deps.mounts.resolve(project, input.mounts, input.node);
    const placed = mounts.node === undefined ? input : { ...input, node: mounts.node };
    const id = randomUUID();
    const launch = { kind: 'launch' as const, containerId: id, containerName: input.name };
    let image = await this.deps.imageRecords.get(project, input.image);
    let node: string | undefined;
    let created: CreatedContainer | undefined;
    // One statement checks that the image exists (still with the digest the row was worked out
    // from) and that the pool has a free slice (one index probe; the worker's allocation stays the
    // real guard), then writes the row, its job record and the audit event; the insert's trigger
    // checks the project's quotas. It places the row only on a node still active: one that began
    // to drain since the placement snapshot was read is refused there, and the choice is made
    // again on a fresh read.
    for (let attempt = 1; !created; attempt++) {
      if (!image) throw imageMissing();
      const row = { ...this.rowOf(id, project, input, image, network), mounts: mounts.records };
      // A limit the node cannot enforce is refused here, never accepted and failed in the worker.
      node ??= await this.place(placed, network, new Set(image.nodes));
      queues.assertReady(node);
      try {
        const result = await containers.create(
          { ...row, node },
          { launchJobId: launchJobId(id), queue: lifecycleQueueName(node), actor: actor.name },
          {
            image: { ...images.launchGuard(), digest: image.digest },
            freeSlot: isolated && !input.idmap?.key,
            volumes: mounts.volumeIds,
          },
        );
        if ('refused' in result) {
          if (result.refused === 'image') throw imageMissing();
          if (result.refused === 'pool')
            throw new NagayaError('POOL_EXHAUSTED', `pool ${pool} has no free slice for ${input.name}`, { pool });
          if (result.refused === 'volume')
            throw new NagayaError('INVALID_INPUT', 'a volume it mounts was deleted meanwhile', { field: 'mounts' });
          // the image was replaced since the cached record was read: work the row out afresh
          if (attempt >= 3) throw new NagayaError('CONFLICT', `image ${input.image} is being replaced; try again`, { field: 'image' });
          image = await this.deps.imageRecords.get(project, input.image, { fresh: true });
          continue;
        }
        created = result;
      } catch (err) {
        if (!(err instanceof NodeNotActiveError) || attempt >= 3) {
          if (err instanceof NodeNotActiveError) throw new NagayaError('UNAVAILABLE', err.message, { node: err.node });
          throw err;
        }
        this.placement.invalidate();
        node = undefined;
      }
    }
    node = created.row.node;
    let jobId: string;
    try {
      jobId = await queues.enqueue(node, launch, { recorded: true });
    } catch (err) {
      await containers.discardCreate(created, launchJobId(id)).catch(() => undefined);
      throw queueUnavailable(err);
    }
    this.placement.placed(node);
    return { container: containerView(created.row, undefined), job: { id: jobId } };
  }

  /** The row a create writes, from the request over the image config's defaults. */
  private rowOf(id: string, project: string, input: CreateContainerInput, image: ImageRecord, network: ContainerNetwork) {
    // a directory image has no config; a rootfs tarball's names no command, so it runs what a
    // directory image runs (its user names still resolve from its /etc/passwd)
    const config =
      image.format === 'directory'
        ? undefined
        : image.format === 'rootfs'
          ? { ...image.config, cmd: image.config.cmd ?? DEFAULT_COMMAND }
          : image.config;
    const settings = launchSettings(
      config,
      { command: input.command, entrypoint: input.entrypoint, env: input.env, workingDir: input.workingDir, user: input.user },
      DEFAULT_COMMAND,
    );
    return {
      id,
      project,
      name: input.name,
      image: input.image,
      command: settings.command,
      env: settings.env,
      run: {
        ...containerRunOf(settings),
        ...(input.init ? { init: true } : {}),
        ...(input.stopSignal && input.stopSignal !== 'SIGTERM' ? { stopSignal: input.stopSignal } : {}),
        ...(input.stopTimeoutSeconds !== undefined ? { stopTimeoutSeconds: input.stopTimeoutSeconds } : {}),
      },
      restartPolicy: input.restartPolicy ?? { name: 'no' as const },
      limits: { ...input.limits, pids: input.limits?.pids ?? this.deps.defaultPidsMax },
      idmap: input.idmap ?? {},
      security: input.security?.nesting ? { nesting: true } : {},
      network,
      pool: this.deps.pool,
    };
  }

  /**
   * The node for a new container: one that can enforce its limits and, in bridge mode, has a
   * container network (its worker set one up: it has a subnet). A refusal for want of a network
   * is made only on a fresh read of the networked nodes.
   */
  private async place(input: CreateContainerInput, network: ContainerNetwork, holding: ReadonlySet<string>): Promise<string> {
    try {
      return await this.placeOnce(input, network, holding);
    } catch (err) {
      throw input.network ? err : defaultNetworkRefused(err);
    }
  }

  private async placeOnce(input: CreateContainerInput, network: ContainerNetwork, holding: ReadonlySet<string>): Promise<string> {
    const choose = (networked: Set<string> | undefined) =>
      this.placement.choose(
        input.node,
        (n) => {
          if (networked && !networked.has(n.name)) {
            return {
              field: 'network.mode',
              message: `node ${n.name} has no container network (its worker has not set up bridge networking)`,
            };
          }
          const capacity = capacityOf(n);
          return capacity ? limitsBeyond(input.limits, capacity)[0] : undefined;
        },
        holding,
      );
    if (network.mode !== 'bridge') return choose(undefined);
    const askedAt = performance.now();
    try {
      return await choose(await this.networked.get());
    } catch (err) {
      const forNetwork = err instanceof NagayaError && (err.details as { field?: string } | undefined)?.field === 'network.mode';
      if (!forNetwork || this.networked.readSince(askedAt)) throw err;
      return choose(await this.networked.get(true));
    }
  }

  /** Queues start, stop, restart or delete after checking the container can take it. */
  async act(
    project: string,
    name: string,
    kind: Exclude<LifecycleKind, 'launch'>,
    actor: TokenIdentity,
    timeoutSeconds?: number,
    options: { force?: boolean } = {},
  ): Promise<{ job: { id: string } | null; deleted?: true }> {
    const { containers, queues, audit } = this.deps;
    const row = await containers.getByName(project, name);
    if (row.kind === 'run') {
      // its run worker owns it: it goes with the run's end, and a cancel ends the run
      throw new NagayaError('CONFLICT', `${name} is the container of a run: cancel the run instead (DELETE /runs/{id})`, {
        kind: 'run',
      });
    }
    if (!ALLOWED_FROM[kind].includes(row.state)) {
      throw new NagayaError('CONFLICT', `cannot ${kind} ${name}: it is ${row.state}`, { state: row.state });
    }
    if (kind === 'delete' && !options.force && RUNS.includes(row.state)) {
      throw new NagayaError('CONFLICT', `${name} is ${row.state}: stop it first, or delete it with force (SIGKILL at once)`, {
        state: row.state,
      });
    }
    if (kind === 'delete' && (row.state === 'pending' || row.state === 'lost')) {
      // Nothing of it runs anywhere a worker must stop: a pending container that never began to
      // launch (no slice), or one lost with its node. Deleted here at once, with no worker.
      const done = await this.deleteAtOnce(row, actor);
      if (done) return { job: null, deleted: true };
    }
    await this.requireNodeOnline(row);
    if (kind === 'delete') {
      if (row.state === 'deleting') {
        const latest = await queues.latestFor(row.id);
        if (latest?.kind === 'delete' && latest.state !== 'failed') return { job: { id: latest.id } };
      }
      // only from the state checked above: a start that made it run meanwhile must not be
      // killed by a delete that did not ask for force
      const from = options.force ? [] : [row.state];
      if (!(await containers.transition(row.id, from, 'deleting'))) {
        throw new NagayaError('CONFLICT', `${name} changed state meanwhile; look again and retry`, { state: row.state });
      }
    }
    // A user's start or restart lifts a user's stop and begins the policy's count afresh, before
    // its job can run (harmless if the job cannot be queued: nothing runs to restart)
    if (kind === 'start' || kind === 'restart') await containers.markStoppedByUser(row.id, false);
    let jobId: string;
    try {
      jobId = await queues.enqueue(row.node, {
        kind,
        containerId: row.id,
        containerName: row.name,
        ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }),
      });
    } catch (err) {
      if (kind === 'delete') await containers.transition(row.id, ['deleting'], row.state);
      throw queueUnavailable(err);
    }
    // A user's stop holds against always and unless-stopped until a user's start or restart
    // (recorded once the job is queued: a stop refused for want of Redis changes nothing; the
    // stop itself is never restarted, since its exit is one the row asked for).
    if (kind === 'stop') await containers.markStoppedByUser(row.id, true);
    await audit.record(actor, row.project, `container.${kind}`, row.name, { id: row.id });
    return { job: { id: jobId } };
  }

  /**
   * Deletes a container no worker needs to act on: pending with no launch begun, or lost. A lost
   * container's slice stays fenced (the allocator refuses to release it) until its node confirms
   * its processes are gone or an admin releases it. Returns false when the row changed meanwhile.
   */
  private async deleteAtOnce(row: ContainerRow, actor: TokenIdentity): Promise<boolean> {
    const { containers, queues, allocator, audit } = this.deps;
    if (row.state === 'pending') {
      if (!(await containers.deleteUnstarted(row.id, { actor: actor.name, action: 'container.delete' }))) return false;
      // its launch job, if a worker ever reads it, finds no row; removing it is only tidiness
      await queues.discard(row.node, launchJobId(row.id)).catch(() => undefined);
      return true;
    }
    if (!(await containers.transition(row.id, ['lost'], 'deleting'))) return false;
    await allocator.release(row.id); // false while fenced: the lease stays, with its fence
    await containers.delete(row.id);
    await queues.forgetJobsOf(row.id);
    await audit.record(actor, row.project, 'container.delete', row.name, { id: row.id, lost: true });
    return true;
  }

  /** Refuses at once, with NODE_OFFLINE, to act on a container whose node is offline or removed. */
  private async requireNodeOnline(row: ContainerRow): Promise<void> {
    const status = (await this.deps.nodes.statuses()).get(row.node);
    if (status === 'offline' || status === 'removed' || status === undefined) {
      throw new NagayaError('NODE_OFFLINE', `${row.name} is on node ${row.node}, which is ${status ?? 'not known'}`, {
        node: row.node,
        status: status ?? null,
        lastState: row.state,
      });
    }
  }

  async get(project: string, name: string): Promise<ContainerView> {
    const row = await this.deps.containers.getByName(project, name);
    const [lease, statuses, ips] = await Promise.all([
      this.deps.allocator.find(row.id),
      this.deps.nodes.statuses(),
      this.addressesOf([row]),
    ]);
    return containerView(row, lease, { nodeStatus: statuses.get(row.node), ip: ips.get(row.id) });
  }

  /** Containers of one project (of every project when `project` is undefined). */
  async list(filter: {
    project: string | undefined;
    state?: ContainerState;
    node?: string;
    kind?: 'service' | 'run';
  }): Promise<ContainerView[]> {
    // unknown is never stored: it is how a live row on an offline node shows
    const states: ContainerState[] | undefined = filter.state
      ? filter.state === 'unknown'
        ? [...LIVE_ON_NODE]
        : [filter.state]
      : undefined;
    const rows = await this.deps.containers.list({
      ...(filter.project ? { project: filter.project } : {}),
      ...(filter.node ? { node: filter.node } : {}),
      ...(states ? { states } : {}),
      // the containers of runs come and go with their runs (GET /runs): shown only when asked for
      kind: filter.kind ?? 'service',
    });
    const [leases, statuses, ips] = await Promise.all([
      this.deps.allocator.findMany(rows.map((r) => r.id)),
      this.deps.nodes.statuses(),
      this.addressesOf(rows),
    ]);
    const views = rows.map((r) => containerView(r, leases.get(r.id), { nodeStatus: statuses.get(r.node), ip: ips.get(r.id) }));
    return filter.state ? views.filter((v) => v.state === filter.state) : views;
  }

  /** The addresses of the bridge-mode containers among `rows` (no query when there are none). */
  private addressesOf(rows: ContainerRow[]) {
    return this.deps.networks.leasesOf(rows.filter((r) => r.network?.mode === 'bridge').map((r) => r.id));
  }

  /** Runs a command in a running container, on its node. */
  async exec(
    project: string,
    name: string,
    command: string[],
    env: Record<string, string> | undefined,
    timeoutMs: number | undefined,
    actor: TokenIdentity,
    encoding: 'utf8' | 'base64' = 'utf8',
    overrides: { cwd?: string | undefined; user?: { uid: number; gid: number } | undefined } = {},
  ): Promise<ExecResult & { encoding: 'utf8' | 'base64' }> {
    const row = await this.requireRunning(project, name);
    await this.requireNodeOnline(row);
    await this.deps.audit.record(actor, project, 'container.exec', name, { command });
    const timeout = timeoutMs ?? 30_000;
    return this.deps.queues.call<ExecResult & { encoding: 'utf8' | 'base64' }>(
      row.node,
      {
        kind: 'exec',
        containerId: row.id,
        command,
        // as Docker's exec: the container's environment, directory and user, the request's env on top
        env: { ...row.env, ...(env ?? {}) },
        ...processOptionsOf(row.run),
        ...(overrides.cwd ? { cwd: overrides.cwd } : {}),
        ...(overrides.user ? { user: overrides.user } : {}),
        timeoutMs: timeout,
        encoding,
      },
      timeout + 10_000,
    );
  }

  /** The row of a running container on an online node (CONFLICT, NODE_OFFLINE otherwise): what a file copy acts on. */
  async requireRunningOnline(project: string, name: string): Promise<ContainerRow> {
    const row = await this.requireRunning(project, name);
    await this.requireNodeOnline(row);
    return row;
  }

  /** Checks that an interactive exec may start in this container (running, on an online node): before a WebSocket is accepted. */
  async checkExecTarget(project: string, name: string): Promise<void> {
    await this.requireNodeOnline(await this.requireRunning(project, name));
  }

  /**
   * Starts an interactive exec session on the container's node, relayed over Redis pub/sub: in
   * the container's env (the request's on top), directory and user unless the request names
   * its own. Resolves once the command runs; onMessage gets its output, beats and exit.
   */
  async startExecSession(
    project: string,
    name: string,
    request: {
      command: string[];
      env?: Record<string, string>;
      cwd?: string;
      user?: { uid: number; gid: number };
      tty: boolean;
      rows: number;
      cols: number;
    },
    actor: TokenIdentity,
    onMessage: (message: ExecOutMessage) => void,
  ): Promise<ExecRelayEnd> {
    const hub = this.deps.execSessions;
    if (!hub) throw new NagayaError('UNAVAILABLE', 'this process serves no exec sessions');
    const row = await this.requireRunning(project, name);
    await this.requireNodeOnline(row);
    await this.deps.audit.record(actor, project, 'container.exec', name, { command: request.command, tty: request.tty });
    const relay = await hub.open(onMessage);
    try {
      const inherited = processOptionsOf(row.run);
      await this.deps.queues.call(
        row.node,
        {
          kind: 'exec-session',
          containerId: row.id,
          command: request.command,
          env: { ...row.env, ...(request.env ?? {}) },
          ...inherited,
          ...(request.cwd ? { cwd: request.cwd } : {}),
          ...(request.user ? { user: request.user } : {}),
          tty: request.tty,
          rows: request.rows,
          cols: request.cols,
          channel: relay.channel,
        },
        15_000,
      );
    } catch (err) {
      await relay.close();
      throw err;
    }
    return relay;
  }

  /** Returns the tail of a container's console log, from its node. */
  /** Whole lines of the console log (the last `tailLines`, since a time, with their times if asked). */
  async logs(project: string, name: string, request: LogsRequest = {}): Promise<{ log: string; truncated: boolean }> {
    const row = await this.deps.containers.getByName(project, name);
    if (row.state === 'pending') return { log: '', truncated: false };
    await this.requireNodeOnline(row);
    return this.deps.queues.call(
      row.node,
      {
        kind: 'logs',
        containerId: row.id,
        maxBytes: LOGS_MAX_BYTES,
        ...(request.tailLines !== undefined ? { tailLines: request.tailLines } : {}),
        ...(request.sinceNs !== undefined ? { sinceNs: String(request.sinceNs) } : {}),
        ...(request.timestamps ? { timestamps: true } : {}),
      },
      15_000,
    );
  }

  /**
   * Follows the console log: subscribes a channel, asks the container's node to publish its lines
   * there, and hands them to `sink` until the container exits, the node falls silent, or `signal`
   * aborts (the client left). Throws before `sink.started()` if following cannot begin; whatever
   * way it ends, the subscription and the timer are gone when it resolves.
   */
  async followLogs(
    project: string,
    name: string,
    request: LogsRequest & { from?: number },
    sink: LogSink,
    signal: AbortSignal,
  ): Promise<void> {
    const streams = this.deps.logStreams;
    if (!streams) throw new NagayaError('UNAVAILABLE', 'this server cannot follow logs');
    const row = await this.deps.containers.getByName(project, name);
    if (row.state === 'pending') {
      sink.started();
      sink.ended('exited', `${name} has not started`);
      return;
    }
    await this.requireNodeOnline(row);
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let silence: NodeJS.Timeout | undefined;
    let started = false;
    const early: LogStreamMessage[] = []; // lines that came before the node's answer
    const end = (reason: 'exited' | 'node-silent' | 'error', message?: string) => {
      if (started) sink.ended(reason, message);
      finish();
    };
    const armSilence = () => {
      clearTimeout(silence);
      silence = setTimeout(() => end('node-silent', `node ${row.node} has sent nothing for ${FOLLOW_SILENCE_MS} ms`), FOLLOW_SILENCE_MS);
    };
    const deliver = (message: LogStreamMessage) => {
      armSilence();
      if (message.type === 'lines') {
        for (const l of message.lines) sink.line(Buffer.from(l.data, 'base64'), BigInt(l.ns), l.end);
      } else if (message.type === 'end') {
        end(message.reason === 'exited' ? 'exited' : 'error', message.message);
      }
    };
    const stream = await streams
      .open((message) => (started ? deliver(message) : early.push(message)))
      .catch((err: unknown) => {
        throw new NagayaError('UNAVAILABLE', `cannot follow the log: Redis refused the subscription (${(err as Error).message})`, {
          dependency: 'redis',
        });
      });
    const onAbort = () => finish();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal.aborted) return;
      await this.deps.queues.call(
        row.node,
        {
          kind: 'logs-follow',
          containerId: row.id,
          channel: stream.channel,
          ...(request.from !== undefined ? { from: request.from } : {}),
          ...(request.tailLines !== undefined ? { tailLines: request.tailLines } : {}),
          ...(request.sinceNs !== undefined ? { sinceNs: String(request.sinceNs) } : {}),
        },
        15_000,
      );
      if (signal.aborted) return;
      started = true;
      sink.started();
      armSilence();
      for (const message of early.splice(0)) deliver(message);
      await finished;
    } finally {
      clearTimeout(silence);
      signal.removeEventListener('abort', onAbort);
      await stream.close();
    }
  }

  /** Reads what a running container uses now (cgroups and writable layer), on its node. */
  async stats(project: string, name: string): Promise<ContainerStatsView> {
    const row = await this.requireRunning(project, name);
    await this.requireNodeOnline(row);
    const usage = await this.deps.queues.call<CgroupUsage & { writableLayerBytes: number | null }>(
      row.node,
      { kind: 'stats', containerId: row.id },
      35_000,
    );
    return {
      name: row.name,
      at: Date.now(),
      memoryBytes: usage.memoryBytes,
      memoryPeakBytes: usage.memoryPeakBytes,
      memoryLimitBytes: row.limits?.memoryBytes ?? null,
      cpuSeconds: usage.cpuSeconds,
      pids: usage.pids,
      pidsLimit: row.limits?.pids ?? null,
      writableLayerBytes: usage.writableLayerBytes,
    };
  }

  private async requireRunning(project: string, name: string): Promise<ContainerRow> {
    const row = await this.deps.containers.getByName(project, name);
    if (row.state !== 'running') throw new NagayaError('CONFLICT', `${name} is ${row.state}, not running`, { state: row.state });
    return row;
  }
}

function queueUnavailable(err: unknown): NagayaError {
  return (
    asNagayaError(err) ?? new NagayaError('UNAVAILABLE', `the job queue is unavailable: ${(err as Error).message}`, { dependency: 'redis' })
  );
}

/**
 * A refusal for want of a network when the request named no mode: say that bridge was the
 * fleet's default, so the user knows the way out (ask for none, or set up the nodes' network).
 */
function defaultNetworkRefused(err: unknown): unknown {
  const forNetwork = err instanceof NagayaError && (err.details as { field?: string } | undefined)?.field === 'network.mode';
  if (!forNetwork) return err;
  return new NagayaError(
    err.code,
    `${err.message}; bridge is this fleet's default network mode (NAGAYA_DEFAULT_NETWORK_MODE): ask for network {"mode": "none"} to run without one`,
    err.details,
  );
}
