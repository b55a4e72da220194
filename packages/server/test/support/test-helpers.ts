/** Small helpers shared by the server's tests and the e2e suites. */
import { ApiError } from '@nagaya/contract';

/** Polls until `check` returns a value (not undefined), or fails after timeoutMs with the last error seen. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition', everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A fetch that never throws on a status and parses JSON when it can. */
export async function rawRequest(
  url: string,
  method: string,
  init: { token?: string; body?: string | Uint8Array; headers?: Record<string, string> } = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests read any response body, including refusals of malformed requests
): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

/** The API's refusal of a call (its ApiError); throws if the call succeeds or fails otherwise. */
export async function refusal(call: Promise<unknown>): Promise<ApiError> {
  const outcome = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (outcome instanceof ApiError) return outcome;
  throw outcome === undefined ? new Error('the call should have been refused, and it succeeded') : (outcome as Error);
}

/**
 * A random chunk in [first, last] of this vitest worker's lane (VITEST_POOL_ID; `perLane` chunks
 * each): fleets of files that run at once never draw the same host IDs, so the processes the
 * invariants find on a slice are the fleet's own.
 */
export function laneChunk(first: number, last: number, perLane = 6): number {
  const lanes = Math.max(1, Math.floor((last - first + 1) / perLane));
  const lane = (Number(process.env.VITEST_POOL_ID ?? 1) - 1) % lanes;
  return first + lane * perLane + Math.floor(Math.random() * perLane);
}
