import { AllocatorError } from './errors';

/** Postgres SQLSTATEs the allocator reacts to. NG* are raised by the nagaya_* SQL functions (see the migration). */
export const SqlState = {
  poolExhausted: 'NG001',
  conflict: 'NG002',
  contention: 'NG003',
  poolNotFound: 'NG004',
  exclusionViolation: '23P01',
  uniqueViolation: '23505',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  lockNotAvailable: '55P03',
} as const;

/** Reads the SQLSTATE of a pg driver error, if it is one. */
export function sqlStateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Tells whether a failed allocation may simply be tried again (a race lost to a concurrent caller). */
export function isRetryable(err: unknown): boolean {
  const state = sqlStateOf(err);
  return (
    state === SqlState.contention ||
    state === SqlState.exclusionViolation ||
    state === SqlState.uniqueViolation ||
    state === SqlState.serializationFailure ||
    state === SqlState.deadlockDetected ||
    state === SqlState.lockNotAvailable
  );
}

/** Turns a driver error into an AllocatorError: the one place where SQLSTATEs become stable codes. */
export function toAllocatorError(err: unknown): AllocatorError {
  if (err instanceof AllocatorError) return err;
  const message = err instanceof Error ? err.message : String(err);
  switch (sqlStateOf(err)) {
    case SqlState.poolExhausted:
      return new AllocatorError('POOL_EXHAUSTED', message, undefined, { cause: err });
    case SqlState.conflict:
    case SqlState.exclusionViolation:
    case SqlState.uniqueViolation:
      return new AllocatorError('CONFLICT', message, undefined, { cause: err });
    case SqlState.poolNotFound:
      return new AllocatorError('NOT_FOUND', message, undefined, { cause: err });
    case '08000':
    case '08001':
    case '08003':
    case '08006':
    case '57P01':
    case '57P03':
      return new AllocatorError('UNAVAILABLE', `database unavailable: ${message}`, undefined, { cause: err });
    default:
      if (/ECONNREFUSED|ECONNRESET|Connection terminated/i.test(message)) {
        return new AllocatorError('UNAVAILABLE', `database unavailable: ${message}`, undefined, { cause: err });
      }
      return new AllocatorError('INTERNAL', `allocator database error: ${message}`, undefined, { cause: err });
  }
}
