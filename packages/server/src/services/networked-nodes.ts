import type { NetworkStore } from '../store/network-store';

/** How old the set of networked nodes may be before a create reads it again. */
const MAX_AGE_MS = 1000;

/**
 * Which nodes have a container network (a subnet), for placing bridge-mode containers without
 * a query per create. A subnet, once a node has one, stays as long as the node: a stale set can
 * only lack a node that set up networking in the last second, so a refusal reads it again first.
 */
export class NetworkedNodes {
  private cached: { nodes: Set<string>; takenAt: number } | undefined;
  private reading: Promise<Set<string>> | undefined;

  constructor(
    private readonly networks: Pick<NetworkStore, 'networkedNodes'>,
    private readonly maxAgeMs = MAX_AGE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The networked nodes, at most maxAgeMs old (fresh: read now). */
  async get(fresh = false): Promise<Set<string>> {
    if (!fresh && this.cached && this.now() - this.cached.takenAt < this.maxAgeMs) return this.cached.nodes;
    // concurrent creates share one read
    this.reading ??= (async () => {
      const takenAt = this.now();
      try {
        const nodes = await this.networks.networkedNodes();
        this.cached = { nodes, takenAt };
        return nodes;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  /** Whether the set was read at or after `at` (so a refusal based on it needs no second read). */
  readSince(at: number): boolean {
    return this.cached !== undefined && this.cached.takenAt >= at;
  }
}
