/** Stable error codes; the server maps each to one HTTP status in one place. */
export type NagayaErrorCode =
  | 'INVALID_INPUT'
  | 'UNAUTHORIZED'
  /** A token that was valid until its expiresAt: the caller needs a new one. */
  | 'TOKEN_EXPIRED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'POOL_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** The one error class nagaya throws on purpose: a stable `code`, a message for people, details for programs. */
export class NagayaError extends Error {
  override readonly name = 'NagayaError';

  constructor(
    readonly code: NagayaErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Tells whether `err` is a NagayaError, optionally with the given code. */
export function isNagayaError(err: unknown, code?: NagayaErrorCode): err is NagayaError {
  return err instanceof NagayaError && (code === undefined || err.code === code);
}
