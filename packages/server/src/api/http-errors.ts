import { ERRORS, type ErrorBody, type ErrorCode } from '@nagaya/contract';
import { NativeError } from '@nagaya/native';
import { ZodError } from 'zod';
import { asNagayaError, NagayaError } from '../errors';

/** Turns anything thrown into a NagayaError: the one mapper every error body goes through. */
export function toApiError(err: unknown): NagayaError {
  const known = asNagayaError(err);
  if (known) return known;
  if (err instanceof ZodError) {
    return new NagayaError('INVALID_INPUT', describeZodError(err), {
      issues: err.issues.map((i) => ({ path: i.path.join('.'), message: i.message, code: i.code })),
    });
  }
  if (err instanceof NativeError) {
    const code: ErrorCode =
      err.code === 'INVALID_PLAN' || err.code === 'INVALID_ARGUMENT' || err.code === 'INVALID_INPUT'
        ? 'INVALID_INPUT'
        : err.code === 'PAYLOAD_TOO_LARGE'
          ? 'PAYLOAD_TOO_LARGE'
          : err.code === 'NOT_FOUND'
            ? 'NOT_FOUND'
            : err.code === 'LAUNCHER_UNAVAILABLE'
              ? 'UNAVAILABLE'
              : 'INTERNAL';
    return new NagayaError(code, err.message, { native: { code: err.code, step: err.step, syscall: err.syscall } });
  }
  const e = err as { type?: string; status?: number; message?: string; code?: string } | undefined;
  // body-parser's errors carry a type and a status
  if (e?.type === 'entity.too.large') return new NagayaError('PAYLOAD_TOO_LARGE', 'request body is too large');
  if (e?.type === 'entity.parse.failed') return new NagayaError('INVALID_INPUT', 'request body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
    return new NagayaError('INVALID_INPUT', e.message ?? 'unsupported body encoding');
  }
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return new NagayaError('INVALID_INPUT', e.message ?? 'bad request');
  }
  if (isConnectionError(err)) {
    const redis = /Stream isn't writeable|enableOfflineQueue|max retries per request|Connection is closed/i.test(e?.message ?? '');
    return new NagayaError('UNAVAILABLE', `${redis ? 'redis' : 'a dependency'} is unavailable: ${e?.message}`, {
      dependency: redis ? 'redis' : 'unknown',
    });
  }
  return new NagayaError('INTERNAL', 'internal error', undefined, { cause: err });
}

function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  // ioredis without an offline queue refuses at once while Redis is away ("Stream isn't writeable"),
  // and gives up after maxRetriesPerRequest; pg reports a dropped server as a terminated connection.
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTCONN'].includes(e?.code ?? '') ||
    /Connection is closed|Connection terminated|connect ECONNREFUSED|Stream isn't writeable|enableOfflineQueue|max retries per request/i.test(
      e?.message ?? '',
    )
  );
}

function describeZodError(err: ZodError): string {
  const first = err.issues[0];
  if (!first) return 'invalid input';
  const where = first.path.length ? `${first.path.join('.')}: ` : '';
  const more = err.issues.length > 1 ? ` (and ${err.issues.length - 1} more)` : '';
  return `${where}${first.message}${more}`;
}

/** The HTTP status an error is answered with (the contract's table). */
export function httpStatusOf(err: NagayaError): number {
  return ERRORS[err.code].status;
}

/** The JSON body of an error response. */
export function errorBody(err: NagayaError): ErrorBody {
  return { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } };
}
