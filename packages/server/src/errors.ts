import { AllocatorError, type AllocatorErrorCode } from '@nagaya/allocator';
import type { ErrorCode } from '@nagaya/contract';

/** The error the server throws on purpose: a code of the wire contract, a message for people, details for programs. */
export class NagayaError extends Error {
  override readonly name = 'NagayaError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The API code each of the allocator's own failures is answered with. */
const FROM_ALLOCATOR: Record<AllocatorErrorCode, ErrorCode> = {
  INVALID_INPUT: 'INVALID_INPUT',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  POOL_EXHAUSTED: 'POOL_EXHAUSTED',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
};

/** Returns `err` as a NagayaError if it is one or an allocator error (mapped); undefined for anything else. */
export function asNagayaError(err: unknown): NagayaError | undefined {
  if (err instanceof NagayaError) return err;
  if (err instanceof AllocatorError) return new NagayaError(FROM_ALLOCATOR[err.code], err.message, err.details, { cause: err });
  return undefined;
}
