import { randomBytes } from 'node:crypto';
import {
  bullPriorityOf,
  directRunsPendingKeyType,
  RUNS_QUEUE,
  type RunJobData as ContractRunJobData,
  type RunScheduleView,
} from '@nagaya/contract';
import { NagayaError } from '../errors';
import { mountsVolume } from '../services/container-mounts';
import type { RunSpec } from '../store/run-store';
import type { JobQueues } from './job-queues';

export { bullPriorityOf, RUNS_QUEUE } from '@nagaya/contract';

/** A job of the runs queue (the shape @nagaya/client writes too); its spec as a run row keeps it. */
export type RunJobData = Omit<ContractRunJobData, 'spec'> & { spec?: RunSpec };

/**
 * The runs queue of one node. A run that mounts a volume must run on the volume's node, and a
 * job of the shared queue goes to whichever node's worker asks first; so such a run waits in its
 * node's own queue, which only that node's worker takes from, with the same processor. Its
 * project's limit and fair share are the same as everyone's: the limit is counted by the claim in
 * Postgres (nagaya_claim_run) across both queues, and its BullMQ priority is worked out alike.
 */
export const nodeRunsQueueName = (node: string) => `${RUNS_QUEUE}-${node}`;

/**
 * The queue a run's job waits in: its node's when it mounts a volume (its row names that node
 * from its submission on), else the shared one.
 */
export function runsQueueOf(run: { node: string | null; spec: Pick<RunSpec, 'mounts'> }): string {
  return run.node !== null && mountsVolume(run.spec.mounts) ? nodeRunsQueueName(run.node) : RUNS_QUEUE;
}

/** DECR that stops at zero (and leaves no key when there was none). */
const DECREMENT_TO_ZERO = `local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 1 then return redis.call('DECR', KEYS[1]) end
if n == 1 then redis.call('DEL', KEYS[1]) end
return 0`;

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
    run: { id: string; project: string; priority: number; node: string | null; spec: RunSpec },
    queuedBefore: number,
    delaySeconds?: number,
    options: { replace?: boolean } = {},
  ): Promise<void> {
    const data: RunJobData = { project: run.project, runId: run.id };
    const queue = this.queues.queue(runsQueueOf(run));
    if (options.replace) {
      const state = await queue.getJobState(run.id);
      if (state === 'failed' || state === 'completed') await queue.remove(run.id);
    }
    await queue.add('run', data, {
      jobId: run.id,
      priority: bullPriorityOf(run.priority, queuedBefore),
      ...(delaySeconds ? { delay: delaySeconds * 1000 } : {}),
      // the worker retries attempts itself (each in a fresh container); BullMQ hands a job out
      // again only when its worker died holding it
      attempts: 1,
      ...KEEP,
    });
  }

  /**
   * Takes one off the count of a project's runs put straight into the queue and not yet taken in
   * (see directRunsPendingKeyType), never below zero: a count that expired meanwhile starts again.
   */
  async directRunTakenIn(project: string): Promise<void> {
    await this.queues.evalOnKey(RUNS_QUEUE, directRunsPendingKeyType(project), DECREMENT_TO_ZERO);
  }

  /**
   * Removes a queued run's job if it still waits (a worker that holds it finds the run
   * cancelled). `node`: the queued run's node, which only a run pinned to it has.
   */
  async withdraw(runId: string, node: string | null): Promise<void> {
    await this.queues
      .queue(node === null ? RUNS_QUEUE : nodeRunsQueueName(node))
      .remove(runId)
      .catch(() => undefined);
  }

  /** The state of a run's job in BullMQ ('unknown' when it is gone). */
  async jobState(run: { id: string; node: string | null; spec: RunSpec }): Promise<string> {
    return this.queues.queue(runsQueueOf(run)).getJobState(run.id);
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
