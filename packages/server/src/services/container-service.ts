import { randomUUID } from 'node:crypto';
import type { Allocator } from '@nagaya/allocator';
import type { ContainerState, ContainerView, LifecycleKind } from '@nagaya/contract';
import type { CreateContainerInput } from '@nagaya/contract/schemas';
import type { ExecResult } from '@nagaya/native';
import { asNagayaError, NagayaError } from '../errors';
import { IMAGE_NAME, type ImageStore } from '../images/image-store';
import { launchJobId, lifecycleQueueName, type JobQueues } from '../jobs/job-queues';
import type { AuditStore } from '../store/audit-store';
import type { ContainerRow, ContainerStore } from '../store/container-store';
import type { NodeStore } from '../store/node-store';
import { capacityOf, limitsBeyond } from './node-capacity';
import { NodePlacement } from './node-placement';
import type { TokenIdentity } from '../store/token-store';
import { containerView } from './container-view';

/** The init a container runs when the request names none: a shell that sleeps until it is stopped. */
export const DEFAULT_COMMAND = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

/** Which states each action may start from. */
const ALLOWED_FROM: Record<Exclude<LifecycleKind, 'launch'>, ContainerState[]> = {
  start: ['stopped', 'failed'],
  stop: ['running', 'starting', 'pending'],
  restart: ['running', 'stopped', 'failed'],
  delete: ['pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting'],
};

export interface ContainerServiceDeps {
  containers: ContainerStore;
  nodes: NodeStore;
  allocator: Allocator;
  images: ImageStore;
  queues: JobQueues;
  audit: AuditStore;
  pool: string;
  /** A node whose last heartbeat is older than this is offline. */
  nodeOfflineMs: number;
  /** pids.max of a container whose request sets none (recorded on its row, so what runs is what is shown). */
  defaultPidsMax: number;
}

/** What the containers routes do: validate against the fleet, write the row, hand the job to a node. */
export class ContainerService {
  private readonly placement: NodePlacement;

  constructor(private readonly deps: ContainerServiceDeps) {
    this.placement = new NodePlacement(deps.nodes, deps.nodeOfflineMs);
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
    const imageMissing = () =>
      new NagayaError('INVALID_INPUT', `image ${input.image} does not exist in project ${project}`, { field: 'image' });
    if (!IMAGE_NAME.test(input.image)) {
      await images.get(project, input.image).catch((err: unknown) => {
        throw err instanceof NagayaError && err.code === 'NOT_FOUND' ? imageMissing() : err;
      });
    }
    // A limit the node cannot enforce is refused here, never accepted and failed in the worker.
    const node = await this.placement.choose(input.node, (n) => {
      const capacity = capacityOf(n);
      return capacity ? limitsBeyond(input.limits, capacity)[0] : undefined;
    });
    const isolated = input.idmap?.isolated ?? true;
    if (input.idmap?.key && !isolated) {
      throw new NagayaError('INVALID_INPUT', 'a sticky key needs an isolated map', { field: 'idmap.key' });
    }
    queues.assertReady(node);
    const id = randomUUID();
    const launch = { kind: 'launch' as const, containerId: id, containerName: input.name };
    // One statement checks that the image exists and that the pool has a free slice (one index
    // probe; the worker's allocation stays the real guard), then writes the row, its job record
    // and the audit event; the insert's trigger checks the project's quotas.
    const created = await containers.create(
      {
        id,
        project,
        name: input.name,
        image: input.image,
        command: input.command ?? DEFAULT_COMMAND,
        env: input.env ?? {},
        limits: { ...input.limits, pids: input.limits?.pids ?? this.deps.defaultPidsMax },
        idmap: input.idmap ?? {},
        security: input.security?.nesting ? { nesting: true } : {},
        pool,
        node,
      },
      { launchJobId: launchJobId(id), queue: lifecycleQueueName(node), actor: actor.name },
      { image: images.launchGuard(), freeSlot: isolated && !input.idmap?.key },
    );
    if ('refused' in created) {
      if (created.refused === 'image') throw imageMissing();
      throw new NagayaError('POOL_EXHAUSTED', `pool ${pool} has no free slice for ${input.name}`, { pool });
    }
    // the image's files are on this host too (cached after the first look)
    const onDisk = await images.onDisk(created.imageProject ?? project, input.image).then(
      () => undefined,
      (err: unknown) => (err instanceof NagayaError && err.code === 'NOT_FOUND' ? imageMissing() : err),
    );
    if (onDisk) {
      await containers.discardCreate(created, launchJobId(id)).catch(() => undefined);
      throw onDisk;
    }
    let jobId: string;
    try {
      jobId = await queues.enqueue(node, launch, { recorded: true });
    } catch (err) {
      await containers.discardCreate(created, launchJobId(id)).catch(() => undefined);
      throw queueUnavailable(err);
    }
    this.placement.placed(node);
    const row = created.row;
    return { container: containerView(row, undefined), job: { id: jobId } };
  }

  /** Queues start, stop, restart or delete after checking the container can take it. */
  async act(
    project: string,
    name: string,
    kind: Exclude<LifecycleKind, 'launch'>,
    actor: TokenIdentity,
    timeoutSeconds?: number,
  ): Promise<{ job: { id: string } }> {
    const { containers, queues, audit } = this.deps;
    const row = await containers.getByName(project, name);
    if (!ALLOWED_FROM[kind].includes(row.state)) {
      throw new NagayaError('CONFLICT', `cannot ${kind} ${name}: it is ${row.state}`, { state: row.state });
    }
    if (kind === 'delete') {
      if (row.state === 'deleting') {
        const latest = await queues.latestFor(row.id);
        if (latest?.kind === 'delete' && latest.state !== 'failed') return { job: { id: latest.id } };
      }
      await containers.transition(row.id, [], 'deleting');
    }
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
    await audit.record(actor, row.project, `container.${kind}`, row.name, { id: row.id });
    return { job: { id: jobId } };
  }

  async get(project: string, name: string): Promise<ContainerView> {
    const row = await this.deps.containers.getByName(project, name);
    return containerView(row, await this.deps.allocator.find(row.id));
  }

  /** Containers of one project (of every project when `project` is undefined). */
  async list(filter: { project: string | undefined; state?: ContainerState; node?: string }): Promise<ContainerView[]> {
    const rows = await this.deps.containers.list({
      ...(filter.project ? { project: filter.project } : {}),
      ...(filter.node ? { node: filter.node } : {}),
      ...(filter.state ? { states: [filter.state] } : {}),
    });
    const leases = await this.deps.allocator.findMany(rows.map((r) => r.id));
    return rows.map((r) => containerView(r, leases.get(r.id)));
  }

  /** Runs a command in a running container, on its node. */
  async exec(
    project: string,
    name: string,
    command: string[],
    env: Record<string, string> | undefined,
    timeoutMs: number | undefined,
    actor: TokenIdentity,
  ): Promise<ExecResult> {
    const row = await this.requireRunning(project, name);
    await this.deps.audit.record(actor, project, 'container.exec', name, { command });
    const timeout = timeoutMs ?? 30_000;
    return this.deps.queues.call<ExecResult>(
      row.node,
      {
        kind: 'exec',
        containerId: row.id,
        command,
        ...(env ? { env } : {}),
        timeoutMs: timeout,
      },
      timeout + 10_000,
    );
  }

  /** Returns the tail of a container's console log, from its node. */
  async logs(project: string, name: string, tailBytes = 64 * 1024): Promise<{ log: string; truncated: boolean }> {
    const row = await this.deps.containers.getByName(project, name);
    if (row.state === 'pending') return { log: '', truncated: false };
    return this.deps.queues.call(row.node, { kind: 'logs', containerId: row.id, tailBytes }, 15_000);
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
