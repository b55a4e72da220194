/**
 * Every error code of the REST API, with the HTTP status it is answered with and the exit code
 * of the `nagaya` CLI that receives it. A new code is added here and nowhere else: the server's
 * status mapping, the OpenAPI enum and the CLI's exit codes are all read from this table.
 */
export const ERRORS = {
  INVALID_INPUT: { status: 400, exitCode: 2, meaning: 'The request is malformed or names something that cannot be.' },
  UNAUTHORIZED: { status: 401, exitCode: 7, meaning: 'No token, or one the server does not know.' },
  TOKEN_EXPIRED: { status: 401, exitCode: 7, meaning: 'A token that was valid until its expiresAt: the caller needs a new one.' },
  FORBIDDEN: { status: 403, exitCode: 7, meaning: "The token's role does not allow this." },
  NOT_FOUND: { status: 404, exitCode: 3, meaning: 'No such resource.' },
  CONFLICT: { status: 409, exitCode: 4, meaning: 'The resource exists already or is in the wrong state.' },
  PAYLOAD_TOO_LARGE: { status: 413, exitCode: 2, meaning: 'The request body is over its limit.' },
  INTERNAL: { status: 500, exitCode: 1, meaning: 'A bug or an unexpected failure; the server log has it.' },
  UNAVAILABLE: { status: 503, exitCode: 5, meaning: 'A dependency (Postgres, Redis, the launcher, a node) is down.' },
  POOL_EXHAUSTED: { status: 507, exitCode: 6, meaning: 'No free ID slice is left in the pool, or no free address in a subnet.' },
  // 403 as Kubernetes answers an exceeded ResourceQuota: the request is understood and the
  // resource may well exist, but this project is not allowed more of it until an admin raises
  // the quota or something of the project is deleted. Not 409 (nothing is in the wrong state)
  // and not 429 (waiting does not help). Its own exit code, so scripts can tell it from FORBIDDEN.
  QUOTA_EXCEEDED: {
    status: 403,
    exitCode: 8,
    meaning: "The project's quota does not allow this; details name the quota, its limit, its use and what was asked.",
  },
  // 503 as UNAVAILABLE, since waiting (for the node to come back) may help, but its own code and
  // exit code: the API itself and its dependencies are fine, and it answers at once instead of
  // queueing work no worker reads. A script can tell "this container's node is gone" (evacuate or
  // remove it) from "the service is down" (retry later).
  NODE_OFFLINE: {
    status: 503,
    exitCode: 9,
    meaning: "The container's node is offline (stopped, silent or removed); details name the node and its status.",
  },
  // 502 as a gateway answers when the server behind it fails: the request was fine, but the
  // registry an image comes from refused it, did not answer, or sent something that does not
  // check out (a digest that does not match). Its own exit code: a script can retry, or fix the
  // reference or the registry credentials, without mistaking it for a bug (INTERNAL).
  IMAGE_UNAVAILABLE: {
    status: 502,
    exitCode: 10,
    meaning:
      'An image could not be had from its registry (unreachable, refused, not found, or not what its digest says); details say which and why.',
  },
} as const satisfies Record<string, { status: number; exitCode: number; meaning: string }>;

/** A stable error code of the API. */
export type ErrorCode = keyof typeof ERRORS;

/** Every error code, in the table's order. */
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** Tells whether `code` is one of the API's error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}
