import { DelayedError, type Job } from 'bullmq';
import type { RunJobData } from './run-queue';

/**
 * Puts a runs-queue job the worker holds back into the queue, to be taken again after `delayMs`;
 * with `priority`, at that place (BullMQ reads a delayed job's priority again when it promotes
 * it). Throws the DelayedError that tells BullMQ the job was not finished but moved.
 */
export async function sendBack(job: Job<RunJobData>, token: string | undefined, delayMs: number, priority?: number): Promise<never> {
  if (priority !== undefined) await job.changePriority({ priority });
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}
