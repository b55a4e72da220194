import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiError } from '@nagaya/contract';
import { OVERLAP_SQL, problems, snapshot } from '../support/invariants';
import { PrivatePostgres, PrivateRedis } from '../support/private-services';
import { eventually, NagayaSystem, rawRequest } from '../support/system';

/**
 * Redis and Postgres killed and restarted while containers launch. The system (API and worker in
 * separate processes) runs on a private redis-server and a private Postgres cluster, so stopping
 * them disturbs no other test. While a dependency is down the API answers 503 UNAVAILABLE with a
 * clear error and /healthz names it; once it is back everything resumes by itself, and no
 * container is launched twice.
 */

const NODE = 'node-a';
const BATCH = process.env.NAGAYA_FAULT_SCALE === 'full' ? 40 : 12;
const DOWN_MS = 3000;

let redis: PrivateRedis;
let postgres: PrivatePostgres;
let sys: NagayaSystem;

beforeAll(async () => {
  [redis, postgres] = await Promise.all([PrivateRedis.start(), PrivatePostgres.start()]);
  sys = await NagayaSystem.start({ databaseUrl: postgres.url(), redisUrl: redis.url, slices: 4 * BATCH + 16, nodes: [NODE] });
}, 180_000);
afterAll(async () => {
  // always bring the services back first so the system can be stopped cleanly, then end them
  await redis?.start().catch(() => undefined);
  await postgres?.start().catch(() => undefined);
  await sys?.stop().catch(() => undefined);
  await Promise.all([redis?.destroy(), postgres?.destroy()]);
}, 120_000);

/** How long a create may keep getting 503s: far past the outage, well inside the test's timeout. */
const CREATE_RETRY_MS = 60_000;

/** The API's and the worker's last log lines, for a failure message. */
function lastLogLines(): string {
  const tail = (lines: Array<Record<string, unknown>>) =>
    lines
      .slice(-15)
      .map((l) => JSON.stringify(l).slice(0, 300))
      .join('\n');
  return `API:\n${tail(sys.api.lines)}\nworker:\n${tail(sys.workers.get(NODE)!.lines)}`;
}

/** Creates a container as a careful client does: a 503 is retried with the same Idempotency-Key. */
async function create(name: string, stats: { retried: number }): Promise<void> {
  const giveUpAt = Date.now() + CREATE_RETRY_MS;
  for (;;) {
    try {
      await sys.admin.post('/containers', { name, image: 'busybox' }, { 'Idempotency-Key': `create-${name}` });
      return;
    } catch (err) {
      const e = err as ApiError;
      // Still refused long after the dependency came back: say what the API answers and logs,
      // rather than retrying into the test's timeout.
      if (Date.now() > giveUpAt) {
        const health = await rawRequest(`${sys.url}/healthz`, 'GET').catch((h) => ({ status: 0, text: String(h) }));
        throw new Error(
          `create ${name} still refused after ${CREATE_RETRY_MS} ms: ${e.status} ${e.code} ${e.message}; /healthz: ${health.status} ${health.text.slice(0, 300)}\n${lastLogLines()}`,
        );
      }
      // the first try reached Postgres and the name is taken: that create went through
      if (e.code === 'CONFLICT' && /already exists/.test(e.message)) return;
      // a try that lost Postgres half-way holds the key until it goes stale (10 s)
      const inProgress = e.code === 'CONFLICT' && /still in progress/.test(e.message);
      if (e.code !== 'UNAVAILABLE' && !inProgress) throw err;
      // Unreachable (status 0) is worth a retry only while the API process lives: retried after
      // its death the loop would spin until the test's timeout and hide why it died.
      if (e.status === 0 && !sys.api.running) {
        const last = sys.api.lines
          .slice(-15)
          .map((l) => JSON.stringify(l).slice(0, 300))
          .join('\n');
        throw new Error(
          `the API process exited (${sys.api.child.exitCode ?? sys.api.child.signalCode}) during the outage; its last log lines:\n${last}`,
        );
      }
      stats.retried++;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Creates the containers one every 100 ms, so that creates are still coming while the dependency
 * is down (a create takes a few milliseconds: started all at once they would all be done before
 * the kill, and the test would show nothing about requests made during the outage).
 */
async function createSpread(names: string[], stats: { retried: number }): Promise<void> {
  await Promise.all(
    names.map(async (name, i) => {
      await new Promise((r) => setTimeout(r, i * 100));
      await create(name, stats);
    }),
  );
}

/** How many times each container was recorded running ("container running" in the worker's log). */
function launchesById(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of sys.workers.get(NODE)!.lines) {
    if (line.msg === 'container running' || line.msg === 'adopting the container an earlier attempt started') {
      const id = String(line.id);
      if (line.msg === 'container running') out.set(id, (out.get(id) ?? 0) + 1);
    }
  }
  return out;
}

async function allRunning(names: string[], timeoutMs: number): Promise<void> {
  await eventually(
    async () => {
      const { containers } = await sys.admin.get<{ containers: Array<{ name: string; state: string }> }>('/containers');
      const states = new Map(containers.map((c) => [c.name, c.state]));
      const waiting = names.filter((n) => states.get(n) !== 'running');
      if (waiting.length) throw new Error(`${waiting.length} not running yet, e.g. ${waiting[0]} is ${states.get(waiting[0]!)}`);
      return true;
    },
    timeoutMs,
    'every container running',
    250,
  );
}

async function checkAtRest(): Promise<void> {
  const s = await snapshot(sys, [NODE]);
  const open = problems(s);
  // on failure, show what the worker logged about the containers concerned
  const trace = open
    .map((p) => p.split(' ')[0])
    .flatMap((name) =>
      sys.workers
        .get(NODE)!
        .lines.filter((l) => l.container === name || l.id === s.rows.find((r) => r.name === name)?.id)
        .map((l) => JSON.stringify(l).slice(0, 300)),
    );
  expect(open, trace.join('\n')).toEqual([]);
  expect((await sys.db.query(OVERLAP_SQL)).rows[0].n).toBe(0);
  const names = s.rows.map((r) => r.name);
  expect(new Set(names).size).toBe(names.length);
  // launched once: one "container running" per container, and one process per running row (problems())
  for (const [id, n] of launchesById()) expect(n, `launches of ${s.rows.find((r) => r.id === id)?.name ?? id}`).toBe(1);
}

describe('Redis killed and restarted during launches', () => {
  it('503 with a clear error while it is down, /healthz names it, then everything resumes and nothing launches twice', async () => {
    const stats = { retried: 0 };
    const names = Array.from({ length: BATCH }, (_, i) => `r${i}`);
    const creating = createSpread(names, stats);
    await new Promise((r) => setTimeout(r, 150));
    await redis.stop(); // SIGKILL: every queued job is gone with it (no persistence)
    const downAt = Date.now();

    const health = await rawRequest(`${sys.url}/healthz`, 'GET');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({
      status: 'unavailable',
      dependencies: { redis: 'down', postgres: 'ok' },
      error: { code: 'UNAVAILABLE' },
    });
    expect(health.body.error.message).toMatch(/redis/);
    const refused = await rawRequest(`${sys.url}/api/v1/containers`, 'POST', {
      token: sys.admin.token!,
      body: JSON.stringify({ name: 'while-down', image: 'busybox' }),
    });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('UNAVAILABLE');
    expect(refused.body.error.message).toMatch(/queue|redis/i);
    expect(await sys.count("container WHERE name = 'while-down'")).toBe(0); // a refused create leaves no row
    // what needs only Postgres still answers
    expect((await rawRequest(`${sys.url}/api/v1/containers`, 'GET', { token: sys.admin.token! })).status).toBe(200);

    await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - (Date.now() - downAt))));
    await redis.start();
    await creating;
    expect(stats.retried).toBeGreaterThan(0); // creates were in flight across the outage
    await eventually(async () => ((await rawRequest(`${sys.url}/healthz`, 'GET')).status === 200 ? true : undefined), 30_000, 'healthz ok');
    await allRunning(names, 90_000);
    expect(sys.workers.get(NODE)!.running).toBe(true); // the worker rode it out
    await checkAtRest();
    console.log(
      `[fault-dependencies] redis down ${DOWN_MS} ms during ${BATCH} launches: ${stats.retried} creates retried after 503; all running ${((Date.now() - downAt) / 1000).toFixed(1)} s after the kill`,
    );
  }, 180_000);
});

describe('Postgres killed and restarted during launches', () => {
  it('503 with a clear error while it is down, /healthz names it, then everything resumes and nothing launches twice', async () => {
    const stats = { retried: 0 };
    const names = Array.from({ length: BATCH }, (_, i) => `p${i}`);
    const creating = createSpread(names, stats);
    await new Promise((r) => setTimeout(r, 150));
    await postgres.stop('immediate'); // SIGQUIT: no checkpoint, crash recovery at the next start
    const downAt = Date.now();

    const health = await rawRequest(`${sys.url}/healthz`, 'GET');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({
      status: 'unavailable',
      dependencies: { postgres: 'down', redis: 'ok' },
      error: { code: 'UNAVAILABLE' },
    });
    expect(health.body.error.message).toMatch(/postgres/);
    for (const [method, path, body] of [
      ['POST', '/containers', { name: 'while-down', image: 'busybox' }],
      ['GET', '/containers', undefined],
      ['GET', '/containers/r0', undefined],
      ['GET', '/pools', undefined],
    ] as const) {
      const res = await rawRequest(`${sys.url}/api/v1${path}`, method, {
        token: sys.admin.token!,
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(503);
      expect(res.body.error.code).toBe('UNAVAILABLE');
      expect(res.body.error.message, `${method} ${path}`).toMatch(/database|postgres/i);
    }

    await new Promise((r) => setTimeout(r, Math.max(0, DOWN_MS - (Date.now() - downAt))));
    await postgres.start();
    await creating;
    expect(stats.retried).toBeGreaterThan(0);
    await eventually(async () => ((await rawRequest(`${sys.url}/healthz`, 'GET')).status === 200 ? true : undefined), 30_000, 'healthz ok');
    expect(await sys.count("container WHERE name = 'while-down'")).toBe(0);
    await allRunning(names, 90_000);
    expect(sys.workers.get(NODE)!.running).toBe(true);
    expect(sys.api.running).toBe(true);
    await checkAtRest();
    console.log(
      `[fault-dependencies] postgres down ${DOWN_MS} ms during ${BATCH} launches: ${stats.retried} creates retried after 503; all running ${((Date.now() - downAt) / 1000).toFixed(1)} s after the kill`,
    );
  }, 180_000);
});
