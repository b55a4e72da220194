/**
 * The allocator's own failure kinds. They are named as the API's codes they become, but the
 * server maps them (packages/server/src/errors.ts): the allocator knows nothing of HTTP or tokens.
 */
export type AllocatorErrorCode =
  | 'INVALID_INPUT'
  /** A raw map an admin has not allowed. */
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'POOL_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** The one error class the allocator throws on purpose: a stable `code`, a message for people, details for programs. */
export class AllocatorError extends Error {
  override readonly name = 'AllocatorError';

  constructor(
    readonly code: AllocatorErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Tells whether `err` is an AllocatorError, optionally with the given code. */
export function isAllocatorError(err: unknown, code?: AllocatorErrorCode): err is AllocatorError {
  return err instanceof AllocatorError && (code === undefined || err.code === code);
}
