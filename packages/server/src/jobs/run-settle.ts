import type { ContainerRow } from '../store/container-store';
import type { RunResult, RunSlice } from '../store/run-store';
import { describeError } from './launch-decisions';
import type { RunJobDeps, RunJobs } from './run-jobs';

/**
 * Writes an attempt's result and removes its container, in the order that keeps both promises:
 * the slice is freed only once nothing its IDs own is left on disk, and an attempt whose process
 * ran is never run again. So: its process stopped and its writable layer removed first (the
 * launcher keeps its exit and output), its network detached, then one statement writes the result
 * and gives back the slice and the row (RunStore.finishReleasing), and only then the rest of its
 * directory goes. A worker killed in between leaves either an attempt the next worker settles from
 * the launcher's records, or a directory with no row that the reconciler removes. One statement
 * instead of two saves each run a round trip and a commit. If any step before it fails, the
 * result and the removal go apart, as RunJobs.removeContainer does them. Returns whether the
 * result was recorded (false: the run was cancelled or settled meanwhile).
 */
export async function recordAndRemove(
  jobs: RunJobs,
  deps: RunJobDeps,
  runId: string,
  ended: { containerId: string; result: RunResult; container?: ContainerRow; exited: boolean; slice?: RunSlice },
  final: boolean,
): Promise<boolean> {
  const { runtime, runs, containers, network, log } = deps;
  const id = ended.containerId;
  let prepared = false;
  let hasRecord = false;
  try {
    hasRecord = runtime.hasRecord(id);
    if (hasRecord) {
      // `exited`: its process was seen to exit, so its records need no second read here
      // (removeWritableLayer reads them and refuses a running container in any case)
      if (!ended.exited && runtime.status(id).state === 'running') await runtime.stop(id, 0);
      await runtime.removeWritableLayer(id);
    }
    const row = ended.container ?? (await containers.findById(id));
    if (row && network && row.network.mode === 'bridge') await network.detach(row);
    prepared = true;
  } catch (err) {
    log.warn('could not take a run container apart; its result and removal go one after the other', {
      container: id,
      error: describeError(err),
    });
  }
  if (prepared) {
    const settled = await runs.finishReleasing(runId, id, ended.result, final, ended.slice).catch((err: unknown) => {
      log.warn('could not settle a run and release its slice in one statement', { container: id, error: describeError(err) });
      return undefined;
    });
    if (settled) {
      try {
        // its records and captured output: root's files, no ID of the freed slice owns any of them
        if (hasRecord) await runtime.remove(id);
      } catch (err) {
        log.warn('could not remove a settled run container directory; the reconciler will', { container: id, error: describeError(err) });
      }
      return settled.recorded;
    }
  }
  const recorded = await runs.finish(runId, id, ended.result, final, ended.slice);
  await jobs.removeContainer(id, ended.container);
  return recorded;
}
