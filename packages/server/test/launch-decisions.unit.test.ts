import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { AllocatorError } from '@nagaya/allocator';
import { NagayaError } from '../src/errors';
import { NativeError, type ExitStatus } from '@nagaya/native';
import {
  adoptionCandidate,
  describeError,
  exitOutcome,
  failedStartOutcome,
  isPermanent,
  isStoppable,
  jobOwnsLease,
  LAUNCHER_RESTART_RETRIES,
  relaunchAfter,
  startableStates,
  yieldToRequest,
  restartDecision,
  type RestartFacts,
} from '../src/jobs/launch-decisions';
import type { ContainerState } from '@nagaya/contract';

const ALL_STATES: ContainerState[] = ['pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting'];

describe('isPermanent', () => {
  it.each<[string, unknown]>([
    ['UnrecoverableError', new UnrecoverableError('no')],
    ...(['INVALID_INPUT', 'NOT_FOUND', 'CONFLICT', 'FORBIDDEN', 'POOL_EXHAUSTED'] as const).map((code): [string, unknown] => [
      `NagayaError ${code}`,
      new NagayaError(code, 'no'),
    ]),
    ...(['INVALID_INPUT', 'NOT_FOUND', 'CONFLICT', 'FORBIDDEN', 'POOL_EXHAUSTED'] as const).map((code): [string, unknown] => [
      `AllocatorError ${code}`,
      new AllocatorError(code, 'no'),
    ]),
    ['NativeError INVALID_PLAN', new NativeError('no', { code: 'INVALID_PLAN' })],
    ['NativeError INVALID_ARGUMENT', new NativeError('no', { code: 'INVALID_ARGUMENT' })],
  ])('%s is permanent', (_name, err) => {
    expect(isPermanent(err)).toBe(true);
  });

  it.each<[string, unknown]>([
    ['NagayaError UNAVAILABLE', new NagayaError('UNAVAILABLE', 'later')],
    ['NagayaError INTERNAL', new NagayaError('INTERNAL', 'later')],
    ['AllocatorError UNAVAILABLE', new AllocatorError('UNAVAILABLE', 'later')],
    ['NativeError LAUNCHER_UNAVAILABLE', new NativeError('later', { code: 'LAUNCHER_UNAVAILABLE' })],
    ['NativeError from a failed syscall', NativeError.fromStep('mount', 'mount', 16)],
    ['a plain Error', new Error('later')],
    ['a string', 'later'],
  ])('%s may be retried', (_name, err) => {
    expect(isPermanent(err)).toBe(false);
  });
});

describe('describeError', () => {
  it('keeps the step and syscall of a NativeError, and leaves them out when it has none', () => {
    expect(describeError(NativeError.fromStep('pivot_root', 'pivot_root', 1))).toEqual({
      code: 'EPERM',
      message: 'pivot_root failed: pivot_root: EPERM',
      step: 'pivot_root',
      syscall: 'pivot_root',
    });
    expect(describeError(new NativeError('bad plan', { code: 'INVALID_PLAN' }))).toStrictEqual({
      code: 'INVALID_PLAN',
      message: 'bad plan',
    });
  });

  it('keeps the code of a NagayaError and calls anything else INTERNAL', () => {
    expect(describeError(new NagayaError('POOL_EXHAUSTED', 'full', { pool: 'default' }))).toStrictEqual({
      code: 'POOL_EXHAUSTED',
      message: 'full',
    });
    expect(describeError(new AllocatorError('CONFLICT', 'taken'))).toStrictEqual({ code: 'CONFLICT', message: 'taken' });
    expect(describeError(new TypeError('boom'))).toEqual({ code: 'INTERNAL', message: 'boom' });
    expect(describeError('text')).toEqual({ code: 'INTERNAL', message: 'text' });
    expect(describeError(undefined)).toEqual({ code: 'INTERNAL', message: 'undefined' });
  });
});

describe('startableStates', () => {
  it('lets a launch begin from pending, starting or failed, and a start also from stopped', () => {
    expect([...startableStates('launch')].sort()).toEqual(['failed', 'pending', 'starting']);
    expect([...startableStates('start')].sort()).toEqual(['failed', 'pending', 'starting', 'stopped']);
  });

  it('never starts a running, stopping or deleting container', () => {
    for (const kind of ['launch', 'start'] as const) {
      for (const state of ['running', 'stopping', 'deleting'] as const) expect(startableStates(kind)).not.toContain(state);
    }
  });
});

describe('jobOwnsLease', () => {
  const queuedAt = 1_000_000;
  it('owns a lease this attempt created', () => {
    expect(jobOwnsLease({ created: true, createdAt: new Date(queuedAt - 60_000) }, queuedAt)).toBe(true);
  });

  it('owns a replayed lease created after the job was queued (an earlier attempt made it), at the exact edge too', () => {
    expect(jobOwnsLease({ created: false, createdAt: new Date(queuedAt + 5) }, queuedAt)).toBe(true);
    expect(jobOwnsLease({ created: false, createdAt: new Date(queuedAt) }, queuedAt)).toBe(true);
  });

  it('does not own a lease an earlier run of the container held before the job was queued', () => {
    expect(jobOwnsLease({ created: false, createdAt: new Date(queuedAt - 1) }, queuedAt)).toBe(false);
  });
});

describe('failedStartOutcome', () => {
  const failure = { permanent: false, attemptsMade: 0, attempts: 3, firstLaunch: true, leaseOwned: true };

  it('keeps everything and goes back to pending when another attempt follows', () => {
    expect(failedStartOutcome(failure)).toEqual({ final: false, releaseLease: false, nextState: 'pending' });
    expect(failedStartOutcome({ ...failure, attemptsMade: 1 })).toEqual({ final: false, releaseLease: false, nextState: 'pending' });
  });

  it('gives the slice back and fails on the last attempt', () => {
    expect(failedStartOutcome({ ...failure, attemptsMade: 2 })).toEqual({ final: true, releaseLease: true, nextState: 'failed' });
  });

  it('treats a job without attempts set as having one', () => {
    expect(failedStartOutcome({ ...failure, attempts: undefined })).toEqual({ final: true, releaseLease: true, nextState: 'failed' });
  });

  it('gives up at once on a permanent error', () => {
    expect(failedStartOutcome({ ...failure, permanent: true })).toEqual({ final: true, releaseLease: true, nextState: 'failed' });
  });

  it('on the last attempt of a start, releases only a slice the job itself took', () => {
    const lastStart = { ...failure, attemptsMade: 2, firstLaunch: false };
    expect(failedStartOutcome({ ...lastStart, leaseOwned: true }).releaseLease).toBe(true);
    expect(failedStartOutcome({ ...lastStart, leaseOwned: false })).toEqual({ final: true, releaseLease: false, nextState: 'failed' });
  });

  it('on the last attempt of a first launch, releases the slice even when its lease was not seen', () => {
    expect(failedStartOutcome({ ...failure, attemptsMade: 2, leaseOwned: false }).releaseLease).toBe(true);
  });
});

describe('relaunchAfter', () => {
  const gone = new NativeError('the launcher went away', { code: 'LAUNCHER_UNAVAILABLE' });
  it(`tries again when the launcher went away, up to ${LAUNCHER_RESTART_RETRIES} tries in all`, () => {
    expect(relaunchAfter(gone, 1)).toBe(true);
    expect(relaunchAfter(gone, LAUNCHER_RESTART_RETRIES - 1)).toBe(true);
    expect(relaunchAfter(gone, LAUNCHER_RESTART_RETRIES)).toBe(false);
  });

  it('never tries again after any other failure', () => {
    expect(relaunchAfter(NativeError.fromStep('clone', 'clone3', 12), 1)).toBe(false);
    expect(relaunchAfter(new NagayaError('UNAVAILABLE', 'LAUNCHER_UNAVAILABLE'), 1)).toBe(false);
    expect(relaunchAfter(Object.assign(new Error('x'), { code: 'LAUNCHER_UNAVAILABLE' }), 1)).toBe(false);
  });
});

describe('adoptionCandidate', () => {
  it('offers a running record with its pid and start time', () => {
    expect(adoptionCandidate({ state: 'running', pid: 42, startTime: '123' })).toEqual({ pid: 42, startTime: '123' });
  });

  it.each([
    ['exited', { state: 'exited', pid: 42, startTime: '123' }],
    ['gone', { state: 'gone' }],
    ['created (half-launched)', { state: 'created', pid: 42, startTime: '123' }],
    ['running without a pid', { state: 'running', startTime: '123' }],
    ['running without a start time', { state: 'running', pid: 42 }],
  ] as const)('offers nothing for a record %s', (_name, record) => {
    expect(adoptionCandidate(record)).toBeUndefined();
  });
});

describe('yieldToRequest', () => {
  it('stops at once, as deleted, when the row is gone', () => {
    expect(yieldToRequest(undefined, 10_000)).toEqual({ stopTimeoutMs: 0, skipped: 'the container was deleted while starting' });
  });

  it('stops gracefully when a stop came while starting', () => {
    for (const state of ['stopping', 'stopped'] as const) {
      expect(yieldToRequest({ state }, 10_000)).toEqual({ stopTimeoutMs: 10_000, skipped: 'stopped while starting' });
    }
  });

  it('carries on for any other state', () => {
    for (const state of ALL_STATES.filter((s) => s !== 'stopping' && s !== 'stopped')) {
      expect(yieldToRequest({ state }, 10_000)).toBeUndefined();
    }
  });
});

describe('isStoppable', () => {
  it('stops what runs or is on its way to run, and nothing else', () => {
    expect(ALL_STATES.filter(isStoppable).sort()).toEqual(['pending', 'running', 'starting', 'stopping']);
  });
});

describe('exitOutcome', () => {
  const exit = (status: Partial<ExitStatus> = {}): ExitStatus => ({
    exitCode: 0,
    signal: null,
    oomKilled: false,
    lost: false,
    pid: 42,
    ...status,
  });
  const running = { state: 'running' as const, pid: 42 };

  it('ignores the exit of a row that is gone or being deleted', () => {
    expect(exitOutcome(undefined, exit())).toBeUndefined();
    expect(exitOutcome({ state: 'deleting', pid: 42 }, exit())).toBeUndefined();
  });

  it('settles only a row with a run in progress: running, starting or stopping', () => {
    const settled = ALL_STATES.filter((state) => exitOutcome({ state, pid: null }, exit({ pid: undefined })) !== undefined);
    expect(settled).toEqual(['starting', 'running', 'stopping']);
  });

  it('ignores the exit of another run: a different pid, or a starting row with no pid yet', () => {
    expect(exitOutcome(running, exit({ pid: 41 }))).toBeUndefined();
    expect(exitOutcome({ state: 'starting', pid: null }, exit({ pid: 42 }))).toBeUndefined();
  });

  it('settles an exit that carries no pid (a record read back) against any run', () => {
    expect(exitOutcome(running, exit({ pid: undefined }))).toEqual({ state: 'stopped', error: null });
  });

  it('stops a row whose init exited 0, or ended in any way once a stop was asked', () => {
    expect(exitOutcome(running, exit())).toEqual({ state: 'stopped', error: null });
    expect(exitOutcome(running, exit({ exitCode: null }))).toEqual({ state: 'stopped', error: null });
    const stopping = { state: 'stopping' as const, pid: 42 };
    const endings = [exit({ signal: 'SIGKILL', exitCode: null }), exit({ exitCode: 143 }), exit({ lost: true }), exit({ oomKilled: true })];
    for (const status of endings) {
      expect(exitOutcome(stopping, status)).toEqual({ state: 'stopped', error: null });
    }
  });

  it('fails a row whose init ended on its own, naming why, the OOM kill first', () => {
    const failed = (status: ExitStatus) => exitOutcome(running, status);
    expect(failed(exit({ oomKilled: true, signal: 'SIGKILL', exitCode: null }))).toMatchObject({
      state: 'failed',
      error: { code: 'OOM_KILLED' },
    });
    expect(failed(exit({ lost: true, exitCode: null }))).toMatchObject({ state: 'failed', error: { code: 'LOST' } });
    expect(failed(exit({ signal: 'SIGSEGV', exitCode: null }))).toEqual({
      state: 'failed',
      error: { code: 'KILLED', message: 'the container was killed by SIGSEGV' },
    });
    expect(failed(exit({ exitCode: 3 }))).toEqual({
      state: 'failed',
      error: { code: 'EXITED', message: 'the container exited with code 3' },
    });
  });
});

describe('restartDecision', () => {
  const row = (name: 'no' | 'on-failure' | 'always' | 'unless-stopped', extra: Partial<RestartFacts> = {}): RestartFacts => ({
    restartPolicy: { name },
    restartCount: 0,
    restartStreak: 0,
    stoppedByUser: false,
    startedAt: new Date(1_000_000),
    ...extra,
  });
  const exit = (extra: Partial<{ failed: boolean; lost: boolean; requested: boolean; finishedAt: number }> = {}) => ({
    failed: true,
    lost: false,
    requested: false,
    finishedAt: 1_000_500,
    ...extra,
  });

  it('backs off from 100 ms, doubling to 30 s, and starts again after 10 s up', () => {
    const delays = [0, 1, 2, 3, 8, 9, 40].map((streak) => restartDecision(row('always', { restartStreak: streak }), exit())?.delayMs);
    expect(delays).toEqual([100, 200, 400, 800, 25_600, 30_000, 30_000]);
    expect(restartDecision(row('always', { restartStreak: 7 }), exit())).toEqual({ delayMs: 12_800, streak: 8 });
    expect(restartDecision(row('always', { restartStreak: 7 }), exit({ finishedAt: 1_000_000 + 10_000 }))).toEqual({
      delayMs: 100,
      streak: 1,
    });
  });

  it('follows each policy: no never, on-failure on failures up to maxRetries, always and unless-stopped on any end', () => {
    expect(restartDecision(row('no'), exit())).toBeUndefined();
    expect(restartDecision(row('on-failure'), exit({ failed: false }))).toBeUndefined();
    expect(restartDecision(row('on-failure'), exit())).toBeDefined();
    const capped = { restartPolicy: { name: 'on-failure' as const, maxRetries: 2 } };
    expect(restartDecision(row('on-failure', { ...capped, restartCount: 1 }), exit())).toBeDefined();
    expect(restartDecision(row('on-failure', { ...capped, restartCount: 2 }), exit())).toBeUndefined();
    expect(restartDecision(row('always'), exit({ failed: false }))).toBeDefined();
    expect(restartDecision(row('unless-stopped'), exit({ failed: false }))).toBeDefined();
  });

  it("never restarts after a stop was asked for or a user's stop, and after a lost run only always and unless-stopped", () => {
    expect(restartDecision(row('always'), exit({ requested: true }))).toBeUndefined();
    expect(restartDecision(row('always', { stoppedByUser: true }), exit())).toBeUndefined();
    expect(restartDecision(row('unless-stopped', { stoppedByUser: true }), exit({ lost: true }))).toBeUndefined();
    expect(restartDecision(row('always'), exit({ lost: true }))).toBeDefined();
    expect(restartDecision(row('unless-stopped'), exit({ lost: true }))).toBeDefined();
    expect(restartDecision(row('on-failure'), exit({ lost: true }))).toBeUndefined();
  });
});
