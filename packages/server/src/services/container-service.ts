import { randomUUID } from 'node:crypto';
import type { Allocator } from '@nagaya/allocator';
import type { ContainerState, ContainerView, LifecycleKind, NetworkMode } from '@nagaya/contract';
import type { CreateContainerInput } from '@nagaya/contract/schemas';
import { asNagayaError, NagayaError } from '../errors';
import { launchSettings } from '../images/image-config';
import { containerRunOf } from '../store/container-run';
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
import { ContainerPlacement } from './container-placement';
import type { TokenIdentity } from '../store/token-store';
import { containerView, LIVE_ON_NODE } from './container-view';
import type { ImageRecordCache } from './image-record-cache';
import type { ImageRecord } from '../images/image-records';
import type { ContainerMounts } from './container-mounts';
import type { ContainerTargets } from './container-targets';

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
  /** The running-and-online checks it shares with exec, logs, stats and file copies. */
  targets: ContainerTargets;
}

/**
 * What the containers routes do for a container's lifecycle: validate against the fleet, write the
 * row, hand the job to a node; and read rows back as views. Exec, logs, stats and file copies have
 * their own services (container-exec-service, container-log-service, container-stats-service,
 * container-file-service).
 */
export class ContainerService {
  private readonly placement: ContainerPlacement;

  constructor(private readonly deps: ContainerServiceDeps) {
    this.placement = new ContainerPlacement(deps.nodes, deps.nodeOfflineMs, deps.networks);
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
      node ??= await this.placement.choose(placed, network, new Set(image.nodes));
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
    await this.deps.targets.requireNodeOnline(row);
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

  /** One container as the API shows it: its row, slice, node status and address. */
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
}

function queueUnavailable(err: unknown): NagayaError {
  return (
    asNagayaError(err) ?? new NagayaError('UNAVAILABLE', `the job queue is unavailable: ${(err as Error).message}`, { dependency: 'redis' })
  );
}
