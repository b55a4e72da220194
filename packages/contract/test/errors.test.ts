import { describe, expect, it } from 'vitest';
import { ApiError, apiErrorOf, ERROR_CODES, ERRORS, isErrorCode } from '@nagaya/contract';

describe('the error table', () => {
  it('gives every code an HTTP error status and a CLI exit code that is neither success nor a signal', () => {
    expect(ERROR_CODES.length).toBeGreaterThanOrEqual(10);
    for (const code of ERROR_CODES) {
      const { status, exitCode, meaning } = ERRORS[code];
      expect(Number.isInteger(status) && status >= 400 && status <= 599, `${code} status ${status}`).toBe(true);
      expect(Number.isInteger(exitCode) && exitCode >= 1 && exitCode <= 125, `${code} exit code ${exitCode}`).toBe(true);
      expect(meaning.length, code).toBeGreaterThan(0);
    }
  });

  it('answers with the statuses the API has always used', () => {
    expect(Object.fromEntries(ERROR_CODES.map((c) => [c, ERRORS[c].status]))).toEqual({
      INVALID_INPUT: 400,
      UNAUTHORIZED: 401,
      TOKEN_EXPIRED: 401,
      FORBIDDEN: 403,
      NOT_FOUND: 404,
      CONFLICT: 409,
      PAYLOAD_TOO_LARGE: 413,
      INTERNAL: 500,
      UNAVAILABLE: 503,
      POOL_EXHAUSTED: 507,
      QUOTA_EXCEEDED: 403,
      NODE_OFFLINE: 503,
      IMAGE_UNAVAILABLE: 502,
    });
  });

  it('knows its own codes and nothing else', () => {
    for (const code of ERROR_CODES) expect(isErrorCode(code)).toBe(true);
    for (const other of ['', 'toString', 'constructor', '__proto__', 'invalid_input', 'EPERM', 42, undefined]) {
      expect(isErrorCode(other)).toBe(false);
    }
  });

  it('reads an error answer, and makes do with a body that is not one', () => {
    const err = apiErrorOf(409, { error: { code: 'CONFLICT', message: 'taken', details: { field: 'name' } } });
    expect(err).toBeInstanceOf(ApiError);
    expect([err.status, err.code, err.message, err.details]).toEqual([409, 'CONFLICT', 'taken', { field: 'name' }]);
    const bare = apiErrorOf(502, '<html>bad gateway</html>');
    expect([bare.status, bare.code, bare.message]).toEqual([502, 'INTERNAL', 'HTTP 502']);
  });
});
