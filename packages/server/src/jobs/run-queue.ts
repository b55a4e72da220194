import { randomBytes } from 'node:crypto';
import { bullPriorityOf, RUNS_QUEUE, type RunJobData as ContractRunJobData, type RunScheduleView } from '@nagaya/contract';
import { NagayaError } from '../errors';
import type { RunSpec } from '../store/run-store';
import type { JobQueues } from './job-queues';

export { bullPriorityOf, RUNS_QUEUE } from '@nagaya/contract';

/** A job of the runs queue (the shape @nagaya/client writes too); its spec as a run row keeps it. */
export type RunJobData = Omit<ContractRunJobData, 'spec'> & { spec?: RunSpec };

const KEEP = { removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 7 * 86400, count: 10_000 } };

/** What the API does with the runs queue: submit, withdraw, and keep the schedules. */
export class RunQueue {
  constructor(private readonly queues: JobQueues) {}

  private get queue() {
    return this.queues.queue(RUNS_QUEUE);
  }

  /** Throws UNAVAILABLE at once while Redis is down. */
  assertReady(): void {
    void this.queue;
  }

  /**
   * Queues a run (its job id is the run id: a second submission of it is a no-op). `replace`:
   * a finished or failed job of that id is removed first (the reconciler queues a run again).
   */
  async submit(
    run: { id: string; project: string; priority: number },
    queuedBefore: number,
    delaySeconds?: number,
    options: { replace?: boolean } = {},
  ): Promise<void> {
    const data: RunJobData = { project: run.project, runId: run.id };
    if (options.replace) {
      const state = await this.queue.getJobState(run.id);
      if (state === 'failed' || state === 'completed') await this.queue.remove(run.id);
    }
    await this.queue.add('run', data, {
      jobId: run.id,
      priority: bullPriorityOf(run.priority, queuedBefore),
      ...(delaySeconds ? { delay: delaySeconds * 1000 } : {}),
      // the worker retries attempts itself (each in a fresh container); BullMQ hands a job out
      // again only when its worker died holding it
      attempts: 1,
      ...KEEP,
    });
  }

  /** Removes a run's job if it still waits (a worker that holds it finds the run cancelled). */
  async withdraw(runId: string): Promise<void> {
    await this.queue.remove(runId).catch(() => undefined);
  }

  /** The state of a run's job in BullMQ ('unknown' when it is gone). */
  async jobState(runId: string): Promise<string> {
    return this.queue.getJobState(runId);
  }

  /** Makes a schedule that submits `spec` on each tick of the cron `pattern`. */
  async schedule(project: string, spec: RunSpec, pattern: string, priority: number): Promise<RunScheduleView> {
    const id = `s${randomBytes(8).toString('hex')}`;
    const data: RunJobData = { project, scheduleId: id, spec, priority };
    try {
      await this.queue.upsertJobScheduler(
        id,
        { pattern },
        { name: 'run', data, opts: { priority: bullPriorityOf(priority, 0), attempts: 1, ...KEEP } },
      );
    } catch (err) {
      if (err instanceof NagayaError) throw err;
      throw new NagayaError('INVALID_INPUT', `schedule: ${(err as Error).message}`, { field: 'schedule' });
    }
    const made = await this.queue.getJobScheduler(id);
    return scheduleView(id, project, pattern, made?.next, spec);
  }

  /** The schedules of a project (of every project when undefined). */
  async schedules(project: string | undefined): Promise<RunScheduleView[]> {
    const all = await this.queue.getJobSchedulers(0, -1, true);
    return all
      .filter((s) => s.template?.data && (project === undefined || (s.template.data as RunJobData).project === project))
      .map((s) => {
        const data = s.template!.data as RunJobData;
        return scheduleView(s.id ?? s.key, data.project, s.pattern ?? '', s.next, data.spec!);
      });
  }

  /** Removes a schedule of the project; NOT_FOUND when it has none of that id. */
  async unschedule(project: string, id: string): Promise<void> {
    const found = await this.queue.getJobScheduler(id);
    if (!found || (found.template?.data as RunJobData | undefined)?.project !== project) {
      throw new NagayaError('NOT_FOUND', `no run schedule ${id} in project ${project}`);
    }
    await this.queue.removeJobScheduler(id);
  }
}

function scheduleView(id: string, project: string, pattern: string, next: number | undefined, spec: RunSpec): RunScheduleView {
  return { id, project, pattern, next: next ? new Date(next).toISOString() : null, image: spec.image, command: spec.command };
}
