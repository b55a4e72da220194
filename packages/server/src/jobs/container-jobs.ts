import type { Job } from 'bullmq';
import { leaseFromRow, sqlStateOf } from '@nagaya/allocator';
import type { ExitStatus } from '@nagaya/native';
import type { ContainerJobDeps } from './container-job-deps';
import { ContainerExits } from './container-exits';
import { ContainerLaunch } from './container-launch';
import { ContainerStops } from './container-stops';
import type { LifecycleJobData } from './job-types';
import { startableStates } from './launch-decisions';

/**
 * Runs lifecycle jobs on this node: launch, start, stop, restart and delete. It claims the row
 * (for a launch or start, with its slice in the same statement) and hands the job to its step:
 * ContainerLaunch starts, ContainerStops stops and deletes; ContainerExits settles each exit.
 */
export class ContainerJobs {
  private readonly launch: ContainerLaunch;
  private readonly stops: ContainerStops;
  private readonly exits: ContainerExits;

  constructor(private readonly deps: ContainerJobDeps) {
    this.exits = new ContainerExits(deps);
    this.launch = new ContainerLaunch(deps, this.exits);
    this.stops = new ContainerStops(deps);
  }

  /** The BullMQ processor; `token` is the job's lock (a stop waits for its exit without holding a slot). */
  async process(job: Job<LifecycleJobData>, token?: string): Promise<Record<string, unknown>> {
    const { containers } = this.deps;
    // the hot path: one statement reads the row, moves it to starting and gives it its slice
    if (job.data.kind === 'launch' || job.data.kind === 'start') {
      const from = startableStates(job.data.kind, job.data.byPolicy === true);
      const node = this.deps.nodeName;
      const policy = job.data.byPolicy ? { restartCount: job.data.restartCount ?? -1 } : undefined;
      const claimed = await containers
        .claimWithDefaultLease(job.data.containerId, from, node, this.deps.images.launchGuard(), policy)
        .catch((err: unknown) => {
          // the allocation failed and took the claim back with it: claim, then allocate on its own
          if (sqlStateOf(err) === undefined) throw err;
          return 'separately' as const;
        });
      const row =
        claimed === 'separately'
          ? await containers.transition(job.data.containerId, from, 'starting', { error: null }, { node })
          : claimed?.row;
      if (!row) {
        const now = await containers.findById(job.data.containerId);
        if (now && now.node !== this.deps.nodeName) return { skipped: `the container moved to node ${now.node}` };
        return { skipped: now ? `the container is ${now.state}` : 'the container no longer exists' };
      }
      const lease = claimed !== 'separately' && claimed?.lease ? leaseFromRow(claimed.lease, row.pool) : undefined;
      return this.launch.start(job, row, lease, claimed === 'separately' ? undefined : claimed?.image);
    }
    const c = await containers.findById(job.data.containerId);
    if (!c) return { skipped: 'the container no longer exists' };
    if (c.node !== this.deps.nodeName) return { skipped: `the container moved to node ${c.node}` };
    switch (job.data.kind) {
      case 'stop':
        return this.stops.stop(c, job.data.timeoutSeconds, { job, token });
      case 'restart': {
        await this.stops.stop(c, job.data.timeoutSeconds);
        const fresh = await containers.transition(c.id, ['stopped', 'failed', 'restarting'], 'starting', { error: null });
        if (!fresh) return { skipped: 'the container is no longer stopped' };
        return this.launch.start(job, fresh);
      }
      case 'delete':
        return this.stops.delete(c, job.data.timeoutSeconds, { job, token });
    }
  }

  /** Records how a container's init ended (called for every exit the launcher reports; see ContainerExits). */
  applyExit(id: string, status: ExitStatus): Promise<void> {
    return this.exits.applyExit(id, status);
  }
}
