/** Small helpers shared by the server's tests and the e2e suites. */
import { createServer, type Server } from 'node:net';
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

/** The claims this process holds (see laneChunk): listening sockets, kept until it exits. */
const heldChunkClaims: Server[] = [];

/** Claims `chunk` machine-wide for this process: true when no other process holds it. */
function claimChunk(chunk: number): Promise<boolean> {
  return new Promise((resolve) => {
    // An abstract unix socket's name is exclusive across the machine's processes (in one network
    // namespace) and the kernel lets go of it when its process dies, however it dies.
    const claim = createServer();
    claim.once('error', () => resolve(false));
    claim.listen(`\0nagaya-test-host-id-chunk-${chunk}`, () => {
      claim.unref();
      heldChunkClaims.push(claim);
      resolve(true);
    });
  });
}

/**
 * A chunk in [first, last] that no other process on this machine holds, preferring this vitest
 * worker's lane (VITEST_POOL_ID; `perLane` chunks each): fleets of files that run at once, in
 * this run or in another vitest run on the same machine, never draw the same host IDs, so the
 * processes the invariants find on a slice are the fleet's own. The claim lasts as long as this
 * process (a test file's fork).
 */
export async function laneChunk(first: number, last: number, perLane = 6): Promise<number> {
  const lanes = Math.max(1, Math.floor((last - first + 1) / perLane));
  const lane = (Number(process.env.VITEST_POOL_ID ?? 1) - 1) % lanes;
  const shuffled = (xs: number[]) =>
    xs
      .map((x) => [Math.random(), x] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, x]) => x);
  const own = shuffled(Array.from({ length: perLane }, (_, i) => first + lane * perLane + i));
  const rest = shuffled(Array.from({ length: last - first + 1 }, (_, i) => first + i).filter((c) => !own.includes(c)));
  for (const chunk of [...own, ...rest]) if (await claimChunk(chunk)) return chunk;
  throw new Error(`every host ID chunk in [${first}, ${last}] is held by a process of this machine`);
}
