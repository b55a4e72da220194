import type { ErrorBody } from './errors';

/** An error answer of the API as a client receives it, or a network failure (status 0, code UNAVAILABLE). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** Turns a non-2xx answer (its status and parsed body, if any) into an ApiError. */
export function apiErrorOf(status: number, body: unknown): ApiError {
  const e = (body as Partial<ErrorBody> | undefined)?.error as { code?: string; message?: string; details?: unknown } | undefined;
  return new ApiError(status, e?.code ?? 'INTERNAL', e?.message ?? `HTTP ${status}`, e?.details);
}
