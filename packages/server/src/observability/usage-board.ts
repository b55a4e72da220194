import type { Redis } from 'ioredis';

/** One running container's usage, as its node last sampled it for /metrics. */
export interface ContainerUsageSample {
  container: string;
  project: string;
  node: string;
  memoryBytes: number | null;
  cpuSeconds: number | null;
  pids: number | null;
}

/**
 * Where worker nodes leave their containers' latest usage for the API's /metrics: one Redis key
 * per node (a JSON array, replaced whole at each sample, gone when the node stops sampling), so a
 * scrape reads one key per node whatever the number of containers.
 */
export class UsageBoard {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(node: string): string {
    return `${this.prefix}:usage:${node}`;
  }

  /** Replaces a node's samples; they lapse after ttlMs unless published again. */
  async publish(node: string, samples: readonly ContainerUsageSample[], ttlMs: number): Promise<void> {
    await this.redis.set(this.key(node), JSON.stringify(samples), 'PX', ttlMs);
  }

  /** The latest samples of the given nodes (none for a node that has published none lately). */
  async read(nodes: readonly string[]): Promise<ContainerUsageSample[]> {
    if (nodes.length === 0) return [];
    const values = await this.redis.mget(nodes.map((n) => this.key(n)));
    return values.flatMap((v) => (v ? (JSON.parse(v) as ContainerUsageSample[]) : []));
  }
}
