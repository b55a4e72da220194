import { randomUUID } from 'node:crypto';
import type { Allocator } from '@nagaya/allocator';
import type { ContainerState, ContainerView, LifecycleKind } from '@nagaya/contract';
import type { CreateContainerInput } from '@nagaya/contract/schemas';
import type { ExecResult } from '@nagaya/native';
import { asNagayaError, NagayaError } from '../errors';
import type { ImageStore } from '../images/image-store';
import { launchJobId, lifecycleQueueName, type JobQueues } from '../jobs/job-queues';
import type { AuditStore } from '../store/audit-store';
import type { ContainerNetwork, ContainerRow, ContainerStore } from '../store/container-store';
import type { NetworkStore } from '../store/network-store';
import type { NodeStore } from '../store/node-store';
import { capacityOf, limitsBeyond } from './node-capacity';
import { NetworkedNodes } from './networked-nodes';
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
  networks: NetworkStore;
  pool: string;
  /** A node whose last heartbeat is older than this is offline. */
  nodeOfflineMs: number;
  /** pids.max of a container whose request sets none (recorded on its row, so what runs is what is shown). */
  defaultPidsMax: number;
}

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
    const { containers, images, queues, allocator, pool } = this.deps;
    const network: ContainerNetwork = input.network ?? { mode: 'none' };
    await images.get(project, input.image).catch((err: unknown) => {
      if (err instanceof NagayaError && err.code === 'NOT_FOUND') {
        throw new NagayaError('INVALID_INPUT', `image ${input.image} does not exist in project ${project}`, { field: 'image' });
      }
      throw err;
    });
    // A limit the node cannot enforce is refused here, never accepted and failed in the worker.
    const node = await this.place(input, network);
    const isolated = input.idmap?.isolated ?? true;
    if (input.idmap?.key && !isolated) {
      throw new NagayaError('INVALID_INPUT', 'a sticky key needs an isolated map', { field: 'idmap.key' });
    }
    // Refuse at once when nothing is free (one index probe); the worker's allocation stays the real guard.
    if (isolated && !input.idmap?.key && !(await allocator.hasFreeSlot(pool))) {
      throw new NagayaError('POOL_EXHAUSTED', `pool ${pool} has no free slice for ${input.name}`, { pool });
    }
    queues.assertReady(node);
    const id = randomUUID();
    const launch = { kind: 'launch' as const, containerId: id, containerName: input.name };
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
        network,
        pool,
        node,
      },
      { launchJobId: launchJobId(id), queue: lifecycleQueueName(node), actor: actor.name },
    );
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

  /**
   * The node for a new container: one that can enforce its limits and, in bridge mode, has a
   * container network (its worker set one up: it has a subnet). A refusal for want of a network
   * is made only on a fresh read of the networked nodes.
   */
  private async place(input: CreateContainerInput, network: ContainerNetwork): Promise<string> {
    const choose = (networked: Set<string> | undefined) =>
      this.placement.choose(input.node, (n) => {
        if (networked && !networked.has(n.name)) {
          return {
            field: 'network.mode',
            message: `node ${n.name} has no container network (its worker has not set up bridge networking)`,
          };
        }
        const capacity = capacityOf(n);
        return capacity ? limitsBeyond(input.limits, capacity)[0] : undefined;
      });
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
    const [lease, ips] = await Promise.all([this.deps.allocator.find(row.id), this.addressesOf([row])]);
    return containerView(row, lease, ips.get(row.id));
  }

  /** Containers of one project (of every project when `project` is undefined). */
  async list(filter: { project: string | undefined; state?: ContainerState; node?: string }): Promise<ContainerView[]> {
    const rows = await this.deps.containers.list({
      ...(filter.project ? { project: filter.project } : {}),
      ...(filter.node ? { node: filter.node } : {}),
      ...(filter.state ? { states: [filter.state] } : {}),
    });
    const [leases, ips] = await Promise.all([this.deps.allocator.findMany(rows.map((r) => r.id)), this.addressesOf(rows)]);
    return rows.map((r) => containerView(r, leases.get(r.id), ips.get(r.id)));
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
