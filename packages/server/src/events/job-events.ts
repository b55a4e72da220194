import type { Job, Worker } from 'bullmq';
import type { Db } from '../store/db';

/**
 * Records a job's end as an event (`job.state`: completed or failed). A job's state lives in its
 * queue, not in a table a trigger could watch, so the worker that ran it writes the event, after
 * the job's own work: one small insert off the job's path. A job without a row (none of ours)
 * writes nothing.
 */
export function recordJobEnds(worker: Worker, db: Db, warn: (message: string, error: Error) => void): void {
  const record = (job: Job | undefined, state: 'completed' | 'failed', error?: string) => {
    if (!job?.id) return;
    db.query(
      `SELECT nagaya_event('job.state', j.project, j.container,
                jsonb_strip_nulls(jsonb_build_object('id', j.id, 'kind', j.kind, 'state', $2::text, 'error', $3::text,
                                                     'attempts', $4::int, 'image', j.image)))
         FROM job j WHERE j.id = $1`,
      [job.id, state, error ?? null, job.attemptsMade],
      { prepared: true },
    ).catch((err: unknown) => warn('recording a job event failed', err as Error));
  };
  worker.on('completed', (job) => record(job, 'completed'));
  worker.on('failed', (job, err) => record(job, 'failed', err.message.slice(0, 500)));
}
