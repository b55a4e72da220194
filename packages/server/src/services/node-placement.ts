import { NagayaError } from '../errors';
import type { NodeRow, NodeStore } from '../store/node-store';

/** How old a fleet snapshot may be before a create reads the node table again. */
const SNAPSHOT_MAX_AGE_MS = 1000;

interface Snapshot {
  nodes: NodeRow[];
  takenAt: number;
}

/**
 * Chooses the node of a new container. Reading the node table (with its per-node container
 * counts) on every create cost a round trip and a count over all containers; a snapshot up to a
 * second old serves instead. It never calls a node online that a fresh read would call offline:
 * a node's heartbeat age is the age read plus the snapshot's own age. Containers placed since the
 * snapshot are counted in it, so a burst of creates still spreads over the least loaded nodes.
 * Only `active` nodes take containers. A node that began to drain since the snapshot was read is
 * caught by the create's insert itself, which places a row only on a node still active (and
 * holds that node's row until it commits); the create then reads the table again (invalidate()).
 */
export class NodePlacement {
  private snapshot: Snapshot | undefined;
  private refreshing: Promise<Snapshot> | undefined;

  constructor(
    private readonly nodes: NodeStore,
    private readonly offlineAfterMs: number,
    private readonly maxAgeMs = SNAPSHOT_MAX_AGE_MS,
    // monotonic: a wall clock stepped back by NTP would keep a stale snapshot "fresh"
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * The node for a new container: `requested` if it is known and online, else one of the least
   * loaded online nodes. `misfit` says why a node cannot take the container (its limits exceed
   * what the node can enforce): such a node is refused by name, or passed over; when no online
   * node fits, the container is refused with INVALID_INPUT. Among equally loaded nodes, those in
   * `prefer` (they hold the container's image) come first.
   */
  async choose(
    requested: string | undefined,
    misfit: (node: NodeRow) => { field: string; message: string } | undefined = () => undefined,
    prefer: ReadonlySet<string> = new Set(),
  ): Promise<string> {
    const askedAt = this.now();
    let snapshot = await this.current();
    // A node that just started may be missing, or not yet online, in a snapshot taken before its
    // first heartbeat: before refusing, read again unless the snapshot was read for this request.
    const refusable = requested
      ? !snapshot.nodes.some((n) => n.name === requested && this.online(n, snapshot))
      : !snapshot.nodes.some((n) => this.online(n, snapshot));
    if (refusable && snapshot.takenAt < askedAt) snapshot = await this.current(true);

    if (requested) {
      const node = snapshot.nodes.find((n) => n.name === requested);
      if (!node) throw new NagayaError('INVALID_INPUT', `node ${requested} is not known`, { field: 'node' });
      if (!this.online(node, snapshot)) {
        const status = node.status === 'active' ? 'offline' : node.status;
        throw new NagayaError('UNAVAILABLE', `node ${requested} is ${status}: it takes no new containers`, { node: requested, status });
      }
      const problem = misfit(node);
      if (problem)
        throw new NagayaError('INVALID_INPUT', `node ${requested} cannot enforce it: ${problem.message}`, {
          field: problem.field,
          node: requested,
        });
      return requested;
    }
    const up = snapshot.nodes.filter((n) => this.online(n, snapshot));
    if (up.length === 0) throw new NagayaError('UNAVAILABLE', 'no worker node is online', { dependency: 'worker' });
    const online = up.filter((n) => !misfit(n));
    if (online.length === 0) {
      const problem = misfit(up[0]!)!;
      throw new NagayaError('INVALID_INPUT', `no online node can enforce it: ${problem.message}`, { field: problem.field });
    }
    // Among the least loaded, pick at random: concurrent creates in other API processes read the same counts.
    const fewest = Math.min(...online.map((n) => n.containers));
    const least = online.filter((n) => n.containers === fewest);
    // among those, the nodes that hold the image already (no pull before the launch)
    const holding = least.filter((n) => prefer.has(n.name));
    const candidates = holding.length > 0 ? holding : least;
    return candidates[Math.floor(Math.random() * candidates.length)]!.name;
  }

  /** Counts a container placed on `node` in the snapshot until the next read. */
  placed(node: string): void {
    const row = this.snapshot?.nodes.find((n) => n.name === node);
    if (row) row.containers++;
  }

  /** Takes new containers: active (not draining, offline or removed) with a fresh enough heartbeat. */
  private online(node: NodeRow, snapshot: Snapshot): boolean {
    return node.status === 'active' && node.heartbeatAgeMs + (this.now() - snapshot.takenAt) <= this.offlineAfterMs;
  }

  /**
   * Forgets the snapshot: a create found its node no longer active (it began to drain since the
   * snapshot was read), so the next choice reads the node table again.
   */
  invalidate(): void {
    this.snapshot = undefined;
  }

  private async current(force = false): Promise<Snapshot> {
    if (!force && this.snapshot && this.now() - this.snapshot.takenAt < this.maxAgeMs) return this.snapshot;
    // concurrent creates share one read
    this.refreshing ??= (async () => {
      const takenAt = this.now();
      try {
        this.snapshot = { nodes: await this.nodes.list(), takenAt };
        return this.snapshot;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }
}
