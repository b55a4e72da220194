import { readCgroupUsage, type CgroupUsage, type ContainerRuntime } from '@nagaya/native';
import type { Logger } from '../observability/logger';
import type { ContainerUsageSample, UsageBoard } from '../observability/usage-board';
import type { ContainerStore } from '../store/container-store';

/** Containers read between two turns of the event loop (some 3 ms of cgroup reads). */
const SAMPLES_PER_TURN = 100;

function pick(usage: CgroupUsage): Pick<ContainerUsageSample, 'memoryBytes' | 'cpuSeconds' | 'pids'> {
  return { memoryBytes: usage.memoryBytes, cpuSeconds: usage.cpuSeconds, pids: usage.pids };
}

/**
 * Samples the memory, CPU and pids of this node's running containers for /metrics and publishes
 * them on the usage board. Each sample is one query for the node's running rows, one launcher
 * round trip for what runs, and a few small cgroup reads per container; cgroup directories are
 * remembered per init pid, so records are not read again at every sample.
 */
export class UsageSampler {
  private readonly cgroupsByInit = new Map<string, { pid: number; dirs: string[] }>();
  private sampling: Promise<void> | undefined;

  constructor(
    private readonly node: string,
    private readonly runtime: ContainerRuntime,
    private readonly containers: ContainerStore,
    private readonly board: UsageBoard,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Takes and publishes one sample (never two at once); failures are logged, not thrown. */
  async sample(): Promise<void> {
    this.sampling ??= this.takeSample()
      .catch((err: unknown) => this.log.warn('sampling container usage failed', { error: err as Error }))
      .finally(() => (this.sampling = undefined));
    await this.sampling;
  }

  private async takeSample(): Promise<void> {
    const [rows, running] = await Promise.all([this.containers.list({ node: this.node, states: ['running'] }), this.runtime.running()]);
    const initOf = new Map(running.map((c) => [c.id, c.pid]));
    for (const id of this.cgroupsByInit.keys()) if (!initOf.has(id)) this.cgroupsByInit.delete(id);
    const samples: ContainerUsageSample[] = [];
    for (const [i, row] of rows.entries()) {
      const pid = initOf.get(row.id);
      if (pid === undefined) continue;
      const usage = readCgroupUsage(this.cgroupsOf(row.id, pid));
      samples.push({ container: row.name, project: row.project, node: this.node, ...pick(usage) });
      // the reads are synchronous (and fast): let the event loop breathe every so many containers
      if (i % SAMPLES_PER_TURN === SAMPLES_PER_TURN - 1) await new Promise((resolve) => setImmediate(resolve));
    }
    // three intervals: a node that stops sampling drops out of /metrics soon, one late sample does not
    await this.board.publish(this.node, samples, this.intervalMs * 3);
  }

  private cgroupsOf(id: string, pid: number): string[] {
    const known = this.cgroupsByInit.get(id);
    if (known?.pid === pid) return known.dirs;
    const dirs = this.runtime.status(id).cgroups ?? [];
    this.cgroupsByInit.set(id, { pid, dirs });
    return dirs;
  }
}
