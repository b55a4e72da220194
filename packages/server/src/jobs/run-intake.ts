import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { bullPriorityOf } from '@nagaya/contract';
import { createRunSchema } from '@nagaya/contract/schemas';
import { NagayaError } from '../errors';
import { mountsHostPath, mountsVolume, type ContainerMounts } from '../services/container-mounts';
import type { RunRow, RunStore } from '../store/run-store';
import type { RunJobData } from './run-queue';

export interface RunIntakeDeps {
  nodeName: string;
  runs: RunStore;
  /** Resolves a spec's mounts as the API does (volumes of its project, on one node). */
  mounts: ContainerMounts;
  /** Queues a run in the runs queue of its node (RunQueue.submit). */
  forward: (run: RunRow, queuedBefore: number) => Promise<void>;
  /** Takes a run put straight into the queue off its project's count of those not yet taken in (RunQueue.directRunTakenIn). */
  directRunTakenIn: (project: string) => Promise<void>;
}

/**
 * What a job of a runs queue comes to on this node: the run to claim here, or why there is none,
 * or the BullMQ priority its job goes back to the queue with (it went ahead of its project's queued runs).
 */
export type RunIntakeOutcome = { runId: string } | { skipped: string } | { forwarded: string } | { requeue: number };

/**
 * The first step of a runs-queue job: finds its run, or makes the row of a run that came through
 * Redis with its spec (a schedule's tick, or a run put straight into the queue by @nagaya/client),
 * and sends a run that mounts another node's volume on to that node's queue.
 */
export class RunIntake {
  constructor(private readonly deps: RunIntakeDeps) {}

  async take(job: Job<RunJobData>): Promise<RunIntakeOutcome> {
    const { runs, nodeName } = this.deps;
    const runId = job.data.runId;
    // a run the API submitted is in the right queue already: its row says where it runs
    if (!job.data.spec) return runId ? { runId } : { skipped: 'a run job with neither a run nor a spec' };
    let queuedBefore = 0;
    let row = runId ? await runs.find(runId) : undefined;
    if (!row) {
      const made = await this.create(job);
      if ('skipped' in made) return made;
      ({ row, queuedBefore } = made);
      // Its place in the fair share was guessed where it was submitted (the count of its project's
      // direct submissions, or none for a schedule's tick): a job ahead of its project's queued
      // runs goes back behind them, as the API would have queued it.
      const fair = bullPriorityOf(row.priority, queuedBefore);
      if (made.created && row.state === 'queued' && (job.priority ?? 0) < fair) return { requeue: fair };
    }
    if (row.state === 'queued' && row.node !== null && row.node !== nodeName && mountsVolume(row.spec.mounts)) {
      // its volume is on another node: it waits in that node's queue (a second copy of this job
      // finds it queued there already: the job id is the run id)
      await this.deps.forward(row, queuedBefore);
      return { forwarded: row.node };
    }
    return { runId: row.id };
  }

  /**
   * Makes the row of a run that came with its spec, once per job (a schedule's job id is its key;
   * a direct submission names its run id). What came through Redis is checked as the API checks
   * a request, and carries no token: a host path, which needs an admin's, is refused.
   */
  private async create(job: Job<RunJobData>): Promise<{ row: RunRow; queuedBefore: number; created: boolean } | { skipped: string }> {
    const runId = job.data.runId;
    const made = await this.createRow(job);
    // a direct submission (it names its run) was counted by its client until its row is made
    if (runId && (!('row' in made) || made.created)) await this.deps.directRunTakenIn(job.data.project);
    return made;
  }

  private async createRow(job: Job<RunJobData>): Promise<{ row: RunRow; queuedBefore: number; created: boolean } | { skipped: string }> {
    const refused = (why: string) => ({ skipped: `the run's spec is refused: ${why}` });
    const runId = job.data.runId;
    const parsed = createRunSchema.safeParse(job.data.spec);
    if (!parsed.success) return refused(parsed.error.issues[0]?.message ?? 'invalid');
    const { schedule: _schedule, delaySeconds: _delay, idempotencyKey, ...spec } = parsed.data;
    if (mountsHostPath(spec.mounts)) return refused('a hostPath mount needs an admin token, and a job put into the queue has none');
    let node: string | undefined;
    try {
      ({ node } = await this.deps.mounts.resolve(job.data.project, spec.mounts, undefined));
    } catch (err) {
      if (err instanceof NagayaError && (err.code === 'INVALID_INPUT' || err.code === 'CONFLICT')) return refused(err.message);
      throw err;
    }
    const { row, queuedBefore, created } = await this.deps.runs.create({
      id: runId ?? randomUUID(),
      project: job.data.project,
      spec,
      priority: spec.priority ?? job.data.priority ?? 0,
      ...(runId ? (idempotencyKey ? { idempotencyKey } : {}) : { idempotencyKey: `schedule:${job.id}` }),
      ...(job.data.scheduleId ? { scheduleId: job.data.scheduleId } : {}),
      ...(node !== undefined ? { node } : {}),
    });
    return { row, queuedBefore, created };
  }
}
