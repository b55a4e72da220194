import type { ContainerRow } from '../store/container-store';
import type { RunRow } from '../store/run-store';
import { describeError } from './launch-decisions';
import type { RunJobDeps, RunJobs } from './run-jobs';
import { attemptResult, capturedOutput } from './run-results';

/**
 * The reconciler's part for runs on this node: a run container whose run no longer runs it
 * (ended, cancelled, or moved to another attempt) is removed once past the grace; a run
 * running here whose job no worker holds (it was lost) is settled from its container's exit.
 */
export async function reconcileRuns(
  jobs: RunJobs,
  deps: RunJobDeps,
  rows: ContainerRow[],
  queue: { jobState: (run: RunRow) => Promise<string>; requeue: (run: RunRow) => Promise<void> },
  graceMs: number,
): Promise<{ removed: number; settled: number; requeued: number }> {
  const jobState = queue.jobState;
  const { runs, nodeName } = deps;
  let removed = 0;
  let settled = 0;
  for (const c of rows) {
    if (c.kind !== 'run' || Date.now() - c.createdAt.getTime() < graceMs) continue;
    const run = await runs.findByContainer(c.id);
    if (run && run.state === 'running') continue;
    await jobs.removeContainer(c.id);
    removed++;
  }
  for (const run of await runs.runningOn(nodeName)) {
    const state = await jobState(run).catch(() => 'active');
    if (state === 'active' || state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children')
      continue;
    if (run.startedAt && Date.now() - run.startedAt.getTime() < graceMs) continue;
    // its job is gone (completed, failed or lost with Redis) while the run still runs: settle it here
    const c = run.containerId ? await deps.containers.findById(run.containerId) : undefined;
    const record = c && deps.runtime.hasRecord(c.id) ? deps.runtime.status(c.id) : undefined;
    if (record?.state === 'running') continue; // still running: the next pass looks again
    if (c && record?.exit) {
      await runs.finish(run.id, c.id, attemptResult(run, record.exit, capturedOutput(deps.runtime, c.id, deps.log)), true);
    } else {
      await runs.fail(run.id, { code: 'LOST', message: 'its worker and its job were lost before it ran to an exit' }, ['running']);
    }
    if (c) await jobs.removeContainer(c.id);
    settled++;
  }
  // a queued run whose job is gone (Redis lost it) or failed before it ran (its worker's
  // database call failed) is queued again, with its id as job id (so only once)
  let requeued = 0;
  for (const run of await runs.list({ state: 'queued', limit: 200, before: new Date(Date.now() - graceMs) })) {
    const state = await jobState(run).catch(() => 'active');
    if (state !== 'unknown' && state !== 'failed' && state !== 'completed') continue;
    await queue
      .requeue(run)
      .catch((err: unknown) => deps.log.warn('could not queue a run again', { run: run.id, error: describeError(err) }));
    requeued++;
  }
  await runs.prune(new Date(Date.now() - deps.retentionMs));
  return { removed, settled, requeued };
}
