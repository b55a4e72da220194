import { UnrecoverableError } from 'bullmq';
import { NativeError, type ContainerRecord, type ExitStatus } from '@nagaya/native';
import { asNagayaError } from '../errors';
import type { ContainerState } from '@nagaya/contract';

// The decisions of the lifecycle jobs (container-jobs.ts), kept free of I/O so each branch can be
// tested on its own: what a failure means, what a failed start gives back, when to launch again,
// when to adopt a process, and what an exit does to the row.

/** Launches tried within one job attempt when the launcher dies under them. */
export const LAUNCHER_RESTART_RETRIES = 5;

/** The error as it is stored on the container row and shown by the API. */
export interface StoredError {
  code: string;
  message: string;
  step?: string;
  syscall?: string;
}

const PERMANENT_NAGAYA_CODES: readonly string[] = ['INVALID_INPUT', 'NOT_FOUND', 'CONFLICT', 'FORBIDDEN', 'POOL_EXHAUSTED'];

/** Tells whether an error is one no retry can fix: bad input, a full pool, a name or key conflict. */
export function isPermanent(err: unknown): boolean {
  if (err instanceof UnrecoverableError) return true;
  const known = asNagayaError(err);
  if (known) return PERMANENT_NAGAYA_CODES.includes(known.code);
  if (err instanceof NativeError) return err.code === 'INVALID_PLAN' || err.code === 'INVALID_ARGUMENT';
  return false;
}

/** Describes an error as the container row stores it. */
export function describeError(err: unknown): StoredError {
  if (err instanceof NativeError) {
    const { code, message, step, syscall } = err;
    return { code, message, ...(step ? { step } : {}), ...(syscall ? { syscall } : {}) };
  }
  const known = asNagayaError(err);
  if (known) return { code: known.code, message: known.message };
  return { code: 'INTERNAL', message: (err as Error)?.message ?? String(err) };
}

/**
 * Lists the states a launch or start job may move to `starting`. 'failed' is allowed for both:
 * a failed launch job runs again only when someone retries it.
 */
export function startableStates(kind: 'launch' | 'start', byPolicy = false): ContainerState[] {
  // a retry after a failed attempt finds the row restarting again (see ContainerLaunch.start)
  if (byPolicy) return ['restarting'];
  return kind === 'launch' ? ['pending', 'starting', 'failed'] : ['stopped', 'failed', 'pending', 'starting'];
}

/**
 * Tells whether this job took the lease, in this attempt or an earlier one, so that its last
 * attempt must give it back. A retry replays the lease (`created` is false then), so a lease
 * made after the job was queued counts as the job's too; one made before belongs to an earlier
 * run of the container and is kept.
 */
export function jobOwnsLease(lease: { created: boolean; createdAt: Date }, jobQueuedAt: number): boolean {
  return lease.created || lease.createdAt.getTime() >= jobQueuedAt;
}

/** What a failed start does: whether it was the last try, whether it gives back the slice, the row's next state. */
export interface FailedStartOutcome {
  final: boolean;
  releaseLease: boolean;
  nextState: 'failed' | 'pending';
}

/**
 * Decides what a failed start does. A retry reuses the slice (allocation is idempotent per
 * owner) rather than burning a new one per attempt; only the last attempt gives back what the
 * launch took, and only what was the job's: every slice of a first launch, a slice a later
 * start took for itself.
 */
export function failedStartOutcome(failure: {
  permanent: boolean;
  attemptsMade: number;
  attempts: number | undefined;
  firstLaunch: boolean;
  leaseOwned: boolean;
}): FailedStartOutcome {
  const final = failure.permanent || failure.attemptsMade + 1 >= (failure.attempts ?? 1);
  return { final, releaseLease: final && (failure.firstLaunch || failure.leaseOwned), nextState: final ? 'failed' : 'pending' };
}

/**
 * Tells whether a launch that failed on try `attempt` is tried again at once: only when the
 * launcher went away under it (the runtime starts a new one), so that a launcher restart does
 * not cost the job one of its few attempts.
 */
export function relaunchAfter(err: unknown, attempt: number): boolean {
  return err instanceof NativeError && err.code === 'LAUNCHER_UNAVAILABLE' && attempt < LAUNCHER_RESTART_RETRIES;
}

/**
 * The process an earlier attempt of this launch started, if the launcher's record says one runs
 * with a known pid and start time; whether it is adopted also depends on its kernel maps
 * (processHasIdMaps).
 */
export function adoptionCandidate(
  record: Pick<ContainerRecord, 'state' | 'pid' | 'startTime'>,
): { pid: number; startTime: string } | undefined {
  if (record.state !== 'running' || record.pid === undefined || record.startTime === undefined) return undefined;
  return { pid: record.pid, startTime: record.startTime };
}

/**
 * What a start does when it could not mark its row running because the row changed under it: a
 * delete, or a stop requested while it launched, wins and the process just launched is stopped
 * (at once when the row is gone). Undefined: the row went elsewhere, carry on.
 */
export function yieldToRequest(
  now: { state: ContainerState } | undefined,
  stopTimeoutMs: number,
): { stopTimeoutMs: number; skipped: string } | undefined {
  if (!now) return { stopTimeoutMs: 0, skipped: 'the container was deleted while starting' };
  if (now.state === 'stopping' || now.state === 'stopped') return { stopTimeoutMs, skipped: 'stopped while starting' };
  return undefined;
}

const STOPPABLE: readonly ContainerState[] = ['running', 'starting', 'stopping', 'pending', 'restarting'];

/** Tells whether a stop job has anything to stop (from pending, it keeps the launch job from starting it). */
export function isStoppable(state: ContainerState): boolean {
  return STOPPABLE.includes(state);
}

/** What an exit does to the row: its next state and the error shown for it. */
export interface ExitOutcome {
  state: 'failed' | 'stopped';
  error: StoredError | null;
}

const SETTLED_BY_EXIT: readonly ContainerState[] = ['running', 'starting', 'stopping'];

/**
 * Decides what an exit reported by the launcher does to the row, or undefined when it is not
 * this row's to settle. Only a row with a run in progress (running, starting, stopping) is: a
 * deleting row is left to the delete, and a pending, stopped or failed one has no run to end.
 * An exit belongs to the run whose pid the row records. A row that is starting has no pid yet:
 * the event is a late one of the previous run (a restart), or the new run ended before it was
 * recorded, which the start settles itself. An exit nobody asked for (the row was not stopping)
 * is a failure.
 */
export function exitOutcome(row: { state: ContainerState; pid: number | null } | undefined, status: ExitStatus): ExitOutcome | undefined {
  if (!row || !SETTLED_BY_EXIT.includes(row.state)) return undefined;
  if (status.pid !== undefined && row.pid !== status.pid) return undefined;
  const requested = row.state === 'stopping';
  const crashed = !requested && (status.oomKilled || status.lost || status.signal !== null || (status.exitCode ?? 0) !== 0);
  if (!crashed) return { state: 'stopped', error: null };
  const error = status.oomKilled
    ? { code: 'OOM_KILLED', message: 'the container exceeded its memory limit and was killed' }
    : status.lost
      ? { code: 'LOST', message: 'the container ended while nobody watched; its exit code is unknown' }
      : status.signal
        ? { code: 'KILLED', message: `the container was killed by ${status.signal}` }
        : { code: 'EXITED', message: `the container exited with code ${status.exitCode}` };
  return { state: 'failed', error };
}

/** Docker's restart backoff: 100 ms, doubling to 30 s; a run up for 10 s starts the count again. */
export const RESTART_BACKOFF = { firstMs: 100, maxMs: 30_000, resetAfterUpMs: 10_000 } as const;

export interface RestartFacts {
  restartPolicy: { name: 'no' | 'on-failure' | 'always' | 'unless-stopped'; maxRetries?: number };
  restartCount: number;
  restartStreak: number;
  stoppedByUser: boolean;
  startedAt: Date | null;
}

/**
 * Whether a run that just ended is restarted by the container's policy, after how long, and the
 * streak of quick restarts that follows. Never after an exit a stop asked for (`requested`), nor
 * once a user stopped it. A lost exit (nobody watched it end: the node rebooted, or its launcher
 * and container were killed) restarts only always and unless-stopped containers, as Docker's
 * daemon does at boot; on-failure counts its restarts against maxRetries.
 */
export function restartDecision(
  row: RestartFacts,
  exit: { failed: boolean; lost: boolean; requested: boolean; finishedAt: number },
): { delayMs: number; streak: number } | undefined {
  const { name, maxRetries } = row.restartPolicy;
  if (exit.requested || row.stoppedByUser || name === 'no') return undefined;
  if (name === 'on-failure') {
    if (exit.lost || !exit.failed) return undefined;
    if (maxRetries !== undefined && row.restartCount >= maxRetries) return undefined;
  }
  const upMs = row.startedAt ? exit.finishedAt - row.startedAt.getTime() : 0;
  const streak = upMs >= RESTART_BACKOFF.resetAfterUpMs ? 0 : row.restartStreak;
  const delayMs = Math.min(RESTART_BACKOFF.firstMs * 2 ** Math.min(streak, 20), RESTART_BACKOFF.maxMs);
  return { delayMs, streak: streak + 1 };
}
