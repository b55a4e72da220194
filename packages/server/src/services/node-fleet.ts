import type { Allocator } from '@nagaya/allocator';
import type { ContainerLimits, ContainerState, EvacuationView, NodeRemovalView } from '@nagaya/contract';
import { NagayaError } from '../errors';
import type { JobQueues } from '../jobs/job-queues';
import type { RunQueue } from '../jobs/run-queue';
import type { Logger } from '../observability/logger';
import type { AuditStore } from '../store/audit-store';
import type { ContainerStore } from '../store/container-store';
import type { Db } from '../store/db';
import type { NodeRow, NodeStore } from '../store/node-store';
import type { RunStore } from '../store/run-store';
import type { TokenIdentity } from '../store/token-store';
import { capacityOf, limitsBeyond } from './node-capacity';

/** One sweeper at a time across the fleet: the key of its transaction-scoped advisory lock. */
const SWEEP_LOCK_KEY = 0x6e677377; // 'ngsw'

/** The states of a row whose process lives on its node (running there, or on its way). */
const LIVE_ON_NODE: ContainerState[] = ['starting', 'running', 'stopping', 'restarting', 'deleting'];

export interface NodeFleetDeps {
  db: Db;
  containers: ContainerStore;
  nodes: NodeStore;
  queues: JobQueues;
  allocator: Allocator;
  audit?: AuditStore;
  /** The runs a removed node was running are settled there (the API's fleet; a worker's sweeps need none). */
  runs?: { store: RunStore; queue: RunQueue };
  log: Logger;
}

interface Moved {
  id: string;
  project: string;
  name: string;
  from: string;
  to: string;
}

/**
 * What the fleet does about nodes that go away: place again the containers a draining or
 * offline node never began to launch, and the image pulls it never began (sweep, on every live
 * worker, one at a time), evacuate a
 * node, and remove a dead one, fencing the slices of the containers that died with it.
 */
export class NodeFleet {
  constructor(private readonly deps: NodeFleetDeps) {}

  /**
   * Moves pending containers (no launch begun: no lease) off nodes that are draining, offline,
   * removed or silent, onto active nodes, their launch job with them (same id, on the new node's
   * queue). The old queue's copy is removed if it still waits, and is harmless if a worker reads
   * it (its row names another node). Runs under a transaction-scoped advisory lock, so two nodes never sweep at once.
   * A container that mounts a volume stays: it can run only on the volume's node.
   * Returns the containers moved.
   */
  async sweep(): Promise<Moved[]> {
    const { db, nodes } = this.deps;
    const moved = await db.transaction(async (client) => {
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SWEEP_LOCK_KEY]);
      if (!lock.rows[0]!.ok) return [];
      const { rows } = await client.query<{ id: string; project: string; name: string; node: string; limits: ContainerLimits }>(
        `SELECT c.id, c.project, c.name, c.node, c.limits FROM container c JOIN node n ON n.name = c.node
          WHERE c.state = 'pending'
            AND (n.status <> 'active' OR n.heartbeat_at < clock_timestamp() - $1 * interval '1 millisecond')
            AND NOT EXISTS (SELECT 1 FROM id_lease l WHERE l.owner = c.id::text)
            AND NOT c.mounts @> '[{"kind": "volume"}]'
          ORDER BY c.created_at LIMIT 500
          FOR UPDATE OF c SKIP LOCKED`,
        [nodes.offlineAfterMs],
      );
      if (rows.length === 0) return [];
      const targets = (await nodes.list()).filter((n) => n.status === 'active');
      const out: Moved[] = [];
      for (const r of rows) {
        const to = leastLoaded(targets, r.node, r.limits);
        if (!to) continue; // no active node can enforce its limits: it waits
        const updated = await client.query(
          `UPDATE container SET node = $3, updated_at = now() WHERE id = $1 AND node = $2 AND state = 'pending'`,
          [r.id, r.node, to.name],
        );
        if (!updated.rowCount) continue;
        to.containers++;
        out.push({ id: r.id, project: r.project, name: r.name, from: r.node, to: to.name });
      }
      return out;
    });
    await this.requeue(moved);
    if (moved.length) this.deps.log.info('moved pending containers off nodes that are gone', { count: moved.length });
    await this.movePulls().catch((err: unknown) =>
      this.deps.log.warn('could not move the pulls of nodes that are gone', { error: err as Error }),
    );
    return moved;
  }

  /**
   * Moves image pulls that wait in the queue of a node that is gone (draining, offline, removed
   * or silent) to the active node with the fewest containers: a pull is placed on one node, and
   * would otherwise wait for that node for good. One that a worker holds stays where it runs.
   */
  private async movePulls(): Promise<number> {
    const { nodes, queues, log } = this.deps;
    const all = await nodes.list();
    const alive = (n: NodeRow) => n.status === 'active' && n.heartbeatAgeMs <= nodes.offlineAfterMs;
    const gone = all.filter((n) => !alive(n)).map((n) => n.name);
    const targets = all.filter(alive);
    if (gone.length === 0 || targets.length === 0) return 0;
    let count = 0;
    for (const from of gone) {
      for (const id of await queues.pullsWaitingOn(from)) {
        const to = leastLoaded(targets, from, undefined);
        if (!to || !(await queues.movePull(id, from, to.name))) continue;
        count++;
        log.info('moved an image pull off a node that is gone', { job: id, from, to: to.name });
      }
    }
    return count;
  }

  /**
   * Marks `node` draining (it takes no new containers) and moves its pending, stopped and failed
   * containers to active nodes; running ones stay and are listed.
   */
  async evacuate(node: string, actor: TokenIdentity): Promise<EvacuationView> {
    const row = await this.requireNode(node);
    const status = row.status === 'removed' ? row : await this.deps.nodes.setStatus(node, 'draining', ['active', 'draining']);
    const moved = await this.moveOff(node);
    const running = (await this.deps.containers.list({ node, states: LIVE_ON_NODE })).map((c) => ({
      project: c.project,
      name: c.name,
      state: c.state,
    }));
    await this.deps.audit?.record(actor, null, 'node.evacuate', node, { moved: moved.length, running: running.length });
    return {
      node,
      status: (status ?? (await this.requireNode(node))).status,
      moved: moved.map((m) => ({ project: m.project, name: m.name, to: m.to })),
      running,
    };
  }

  /**
   * Removes a dead node: it is marked removed, its pending, stopped and failed containers move,
   * and the ones that ran there are recorded as lost with their slices fenced (never handed out
   * again until the node comes back and confirms their processes are gone, or releaseSlices).
   * Refused (CONFLICT) while the node still beats, whatever its status: stop it first.
   */
  async remove(node: string, options: { releaseSlices?: boolean }, actor: TokenIdentity): Promise<NodeRemovalView> {
    const { containers, allocator, nodes, log } = this.deps;
    const row = await this.requireNode(node);
    // whatever its status says: a node that beats again (restarting, back from a partition) is not dead
    if (row.heartbeatAgeMs <= nodes.offlineAfterMs) {
      throw new NagayaError('CONFLICT', `node ${node} is alive (its last heartbeat is ${row.heartbeatAgeMs} ms old): stop it first`, {
        node,
        status: row.status,
      });
    }
    await nodes.setStatus(node, 'removed');
    const moved = await this.moveOff(node);
    const lost: NodeRemovalView['lost'] = [];
    for (const c of await containers.list({ node, states: [...LIVE_ON_NODE, 'pending'] })) {
      // a pending row left here holds a slice: a launch of it began (and may have run); one with
      // none waits for an active node (the sweep moves it)
      if (c.state === 'pending' && !(await allocator.find(c.id))) continue;
      // fenced first: a slice must never be free while a row that could still be its owner says otherwise
      await allocator.fence(c.id, node);
      const marked = await containers.transition(c.id, [c.state], 'lost', {
        error: { code: 'NODE_LOST', message: `its node ${node} was removed as dead while it was ${c.state}` },
      });
      if (marked) lost.push({ project: c.project, name: c.name });
    }
    const runs = await this.loseRuns(node);
    const released = options.releaseSlices ? await allocator.unfence(node) : [];
    log.warn('node removed as dead', { node, lost: lost.length, released: released.length, moved: moved.length, runs: runs.length });
    await this.deps.audit?.record(actor, null, 'node.remove', node, {
      lost: lost.length,
      released: released.length,
      releaseSlices: options.releaseSlices === true,
      runs: runs.length,
    });
    return {
      node,
      status: 'removed',
      lost,
      released,
      moved: moved.map((m) => ({ project: m.project, name: m.name, to: m.to })),
      runs,
    };
  }

  /**
   * The runs the dead node was running (their containers were just recorded lost): a run with a
   * retry left is queued again at once (the reconciler would after its grace), the others fail.
   */
  private async loseRuns(node: string): Promise<NodeRemovalView['runs']> {
    if (!this.deps.runs) return [];
    const { store, queue } = this.deps.runs;
    const settled = await store.loseOnNode(node);
    for (const run of settled) {
      if (run.state !== 'queued') continue;
      // its old job is done (skipped by a worker that found the attempt on this node) or still
      // held by the dead worker (handed out again once its lock lapses): either way it comes back
      await queue.submit(run, 0, undefined, { replace: true }).catch((err: unknown) => {
        this.deps.log.warn('could not queue a run of a removed node again', { run: run.id, error: (err as Error).message });
      });
    }
    return settled.map((r) => ({ project: r.project, id: r.id, state: r.state === 'queued' ? 'queued' : 'failed' }));
  }

  /** Pending (never launched), stopped and failed containers of `node`, placed on active nodes. */
  private async moveOff(node: string): Promise<Moved[]> {
    const { containers, nodes } = this.deps;
    const targets = (await nodes.list()).filter((n) => n.status === 'active' && n.name !== node);
    const moved: Moved[] = [];
    for (const c of await containers.list({ node, states: ['pending', 'stopped', 'failed'] })) {
      if (c.state === 'pending' && (await this.deps.allocator.find(c.id))) continue; // its launch began
      const to = leastLoaded(targets, node, c.limits);
      if (!to) continue;
      const row = await containers.move(c.id, node, to.name, [c.state]);
      if (!row) continue;
      to.containers++;
      moved.push({ id: c.id, project: c.project, name: c.name, from: node, to: to.name });
    }
    await this.requeue(moved);
    return moved;
  }

  /** Gives each moved container that is still pending its launch job on its new node. */
  private async requeue(moved: Moved[]): Promise<void> {
    const { queues, containers, log } = this.deps;
    for (const m of moved) {
      const row = await containers.findById(m.id);
      if (row?.state !== 'pending' || row.node !== m.to) continue;
      try {
        await queues.moveLaunch(m.id, m.name, m.from, m.to);
      } catch (err) {
        // the reconciler of the new node gives a pending row with no live job its job again
        log.warn('could not queue the launch of a moved container', { id: m.id, node: m.to, error: err as Error });
      }
    }
  }

  private async requireNode(node: string): Promise<NodeRow> {
    const row = await this.deps.nodes.get(node);
    if (!row) throw new NagayaError('NOT_FOUND', `no node named ${node}`);
    return row;
  }
}

/**
 * The active node with the fewest containers, other than `except`, that can enforce `limits` (a
 * container is never moved to a node that would have refused it at create).
 */
export function leastLoaded(targets: NodeRow[], except: string, limits: ContainerLimits | undefined): NodeRow | undefined {
  let best: NodeRow | undefined;
  for (const n of targets) {
    if (n.name === except || (best && n.containers >= best.containers)) continue;
    const capacity = capacityOf(n);
    if (capacity && limitsBeyond(limits, capacity).length > 0) continue;
    best = n;
  }
  return best;
}
