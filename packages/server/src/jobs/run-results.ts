import type { ContainerRuntime, ExitStatus, RunOutput } from '@nagaya/native';
import type { Logger } from '../observability/logger';
import type { RunResult, RunRow } from '../store/run-store';
import { describeError } from './launch-decisions';

// What an attempt of a run ends with, as the run row keeps it: from its exit and its output, or a
// failure that left it no exit.

/** An attempt's result from its exit and its captured output. */
export function attemptResult(run: RunRow, exit: ExitStatus, output: RunOutput): RunResult {
  const timedOut = exit.timedOut === true;
  const state = timedOut ? 'timedOut' : exit.exitCode === 0 ? 'succeeded' : 'failed';
  return {
    state,
    exitCode: exit.exitCode,
    signal: exit.signal,
    timedOut,
    ...output,
    error: exit.lost
      ? { code: 'LOST', message: 'the launcher lost track of the run; how it ended is not known' }
      : exit.oomKilled
        ? { code: 'OOM_KILLED', message: 'a process of the run was killed for want of memory' }
        : timedOut
          ? { code: 'TIMED_OUT', message: `killed after its timeout of ${run.spec.timeoutSeconds} s` }
          : null,
  };
}

/** The output the launcher captured, each stream capped at the run's outputLimitBytes; none when it cannot be read. */
export function capturedOutput(runtime: ContainerRuntime, containerId: string, log: Logger): RunOutput {
  try {
    return runtime.readOutput(containerId);
  } catch (err) {
    log.warn('could not read a run output', { container: containerId, error: describeError(err) });
    const none = Buffer.alloc(0);
    return { stdout: none, stderr: none, stdoutTruncated: false, stderrTruncated: false, stdoutBytes: 0, stderrBytes: 0 };
  }
}

/** The result of an attempt that could not run to an exit (no container, no launch). */
export function failure(error: { code: string; message: string }): RunResult {
  return {
    state: 'failed',
    exitCode: null,
    signal: null,
    timedOut: false,
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    stdoutTruncated: false,
    stderrTruncated: false,
    stdoutBytes: 0,
    stderrBytes: 0,
    error: { code: error.code, message: error.message },
  };
}
