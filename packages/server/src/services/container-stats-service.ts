import type { ContainerStatsView } from '@nagaya/contract';
import type { CgroupUsage } from '@nagaya/native';
import type { JobQueues } from '../jobs/job-queues';
import type { ContainerTargets } from './container-targets';

/** What running containers use now (GET /containers/:name/stats), read on their nodes. */
export class ContainerStatsService {
  constructor(
    private readonly targets: ContainerTargets,
    private readonly queues: JobQueues,
  ) {}

  /** Reads what a running container uses now (cgroups and writable layer), on its node. */
  async stats(project: string, name: string): Promise<ContainerStatsView> {
    const row = await this.targets.requireRunningOnline(project, name);
    const usage = await this.queues.call<CgroupUsage & { writableLayerBytes: number | null }>(
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
}
