// `npm run bench:e2e`: the whole system as a user meets it. Starts nagaya's API and worker as
// processes of their own, as docker-compose.yml deploys them (BENCH_TOPOLOGY=single: one
// `nagaya serve` process with both roles), on a throwaway database, then measures the time from POST /containers to
// the container's init running, for 200 containers created 8 at a time and then 500 created as
// fast as the API accepts them. Prints a table, then one JSON line. Needs root (real containers).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { ContainerRuntime } from '../packages/native/src';
import { testDatabaseUrl, testRedisUrl, withDatabase } from '../packages/allocator/test/support/test-services';

const TOKEN = randomBytes(16).toString('hex');
const PORT = 18000 + Math.floor(Math.random() * 1000);
const NODE = 'bench';
const PACED = Number(process.env.BENCH_PACED ?? 200);
const BURST = Number(process.env.BENCH_BURST ?? 500);
const LANES = Number(process.env.BENCH_LANES ?? 8);
const TOPOLOGY = process.env.BENCH_TOPOLOGY === 'single' ? 'single' : 'split';

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: withDatabase(testDatabaseUrl(), 'postgres') });
  await c.connect();
  await c.query(sql);
  await c.end();
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function post(name: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${PORT}/api/v1/containers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, image: 'busybox', command: ['sleep', '100000'] }),
  });
  if (res.status !== 202) throw new Error(`POST ${name}: ${res.status} ${await res.text()}`);
}

/**
 * One poller for every container the bench waits on (a query per lane would load Postgres with
 * hundreds of polls a second and slow down what we measure).
 */
class StartWatcher {
  private readonly waiting = new Map<string, { resolve: (startedAt: number) => void; reject: (err: Error) => void }>();
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;

  constructor(private readonly db: pg.Pool) {}

  wait(name: string): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.set(name, { resolve, reject });
      this.timer ??= setTimeout(() => void this.poll(), 2);
    });
  }

  /** Ends every wait, now and later, with `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    for (const { reject } of this.waiting.values()) reject(this.failure);
    this.waiting.clear();
  }

  /** The failure that ended the waits, if any. */
  get failed(): Error | undefined {
    return this.failure;
  }

  private async poll(): Promise<void> {
    const names = [...this.waiting.keys()];
    const { rows } = await this.db.query<{ name: string; started_at: Date | null; state: string; error: unknown }>(
      "SELECT name, started_at, state, error FROM container WHERE name = ANY ($1) AND (started_at IS NOT NULL OR state = 'failed')",
      [names],
    );
    for (const r of rows) {
      if (r.state === 'failed') this.fail(new Error(`${r.name} failed: ${JSON.stringify(r.error)}`));
      else {
        this.waiting.get(r.name)?.resolve(r.started_at!.getTime());
        this.waiting.delete(r.name);
      }
    }
    this.timer = this.waiting.size > 0 && !this.failure ? setTimeout(() => void this.poll(), 5) : undefined;
  }
}

/** Waits until every named container has started; returns started_at per name (ms since epoch). */
async function startedAt(db: pg.Pool, names: string[], timeoutMs: number, watcher: StartWatcher): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (watcher.failed) throw watcher.failed;
    const { rows } = await db.query<{ name: string; started_at: Date | null; state: string; error: unknown }>(
      'SELECT name, started_at, state, error FROM container WHERE name = ANY ($1)',
      [names],
    );
    const failed = rows.find((r) => r.state === 'failed');
    if (failed) throw new Error(`${failed.name} failed: ${JSON.stringify(failed.error)}`);
    const started = rows.filter((r) => r.started_at);
    if (started.length === names.length) return new Map(started.map((r) => [r.name, r.started_at!.getTime()]));
    if (Date.now() > deadline) throw new Error(`${names.length - started.length} containers not running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function main(): Promise<void> {
  const dbName = `nagaya_bench_e2e_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'nagaya-bench-'));
  chmodSync(dir, 0o711);
  writeFileSync(join(dir, 'subuid'), `root:3000000000:${1024 * 65536}\n`);
  writeFileSync(join(dir, 'subgid'), `root:3000000000:${1024 * 65536}\n`);
  await admin(`CREATE DATABASE ${dbName}`);
  const servers: ChildProcess[] = [];
  let finished = false;
  const db = new pg.Pool({ connectionString: withDatabase(testDatabaseUrl(), dbName), max: 2 });
  const watcher = new StartWatcher(db);
  try {
    const env = {
      ...process.env,
      PORT: String(PORT),
      NAGAYA_LISTEN: '127.0.0.1',
      DATABASE_URL: withDatabase(testDatabaseUrl(), dbName),
      REDIS_URL: testRedisUrl(),
      NAGAYA_ADMIN_TOKEN: TOKEN,
      NAGAYA_DATA_DIR: join(dir, 'data'),
      NAGAYA_NODE_NAME: NODE,
      NAGAYA_QUEUE_PREFIX: `bench${randomBytes(3).toString('hex')}`,
      NAGAYA_SUBUID_PATH: join(dir, 'subuid'),
      NAGAYA_SUBGID_PATH: join(dir, 'subgid'),
      NAGAYA_LOG: 'silent',
      NAGAYA_WORKER_CONCURRENCY: process.env.NAGAYA_WORKER_CONCURRENCY ?? '16',
    };
    const serve = (role: string) => {
      const child = spawn(
        process.execPath,
        [
          ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
          resolve(__dirname, '../packages/server/dist/cli/nagaya.js'),
          'serve',
          '--role',
          role,
        ],
        { env, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      // a server that dies ends the bench at once instead of leaving it waiting for launches
      child.on('exit', (code, signal) => {
        if (!finished) watcher.fail(new Error(`nagaya serve --role ${role} exited (${signal ?? code}) during the bench`));
      });
      return child;
    };
    // split: the API and the worker in processes of their own, as docker-compose.yml deploys them
    // (each gets a core for its event loop); single: `nagaya serve`, both in one process.
    if (TOPOLOGY === 'split') servers.push(serve('api'), serve('worker'));
    else servers.push(serve('all'));
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${PORT}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 300 || watcher.failed) throw watcher.failed ?? new Error('nagaya did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; ; i++) {
      // the worker has sent its first heartbeat
      const res = await fetch(`http://127.0.0.1:${PORT}/api/v1/nodes`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const { nodes } = (await res.json()) as { nodes: Array<{ name: string; online: boolean }> };
      if (nodes.some((n) => n.name === NODE && n.online)) break;
      if (i > 300 || watcher.failed) throw watcher.failed ?? new Error(`worker ${NODE} did not come online`);
      await new Promise((r) => setTimeout(r, 100));
    }

    // 0. warm-up, not measured: the first launches open the pools' connections and compile
    // plans (plpgsql caches them per connection), as a server in service has long done
    const warm = Array.from({ length: 16 }, (_, i) => `warm-${i}`);
    await Promise.all(
      warm.map(async (name) => {
        await post(name);
        await watcher.wait(name);
      }),
    );

    // 1. paced: 8 in flight at a time, POST-to-running per container
    const latencies: number[] = [];
    const accepted: number[] = []; // POST to its 202: the API's share of the latency
    let next = 0;
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        while (next < PACED) {
          const name = `paced-${next++}`;
          const sent = Date.now();
          await post(name);
          accepted.push(Date.now() - sent);
          const started = await watcher.wait(name);
          latencies.push(started - sent);
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    accepted.sort((a, b) => a - b);

    // 2. burst: 500 as fast as the API accepts them, until the last one runs
    const burstNames = Array.from({ length: BURST }, (_, i) => `burst-${i}`);
    const burstStart = Date.now();
    let cursor = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (cursor < burstNames.length) await post(burstNames[cursor++]!);
      }),
    );
    const allAccepted = (Date.now() - burstStart) / 1000;
    const burstStarted = await startedAt(db, burstNames, 120_000, watcher);
    const burstSeconds = (Math.max(...burstStarted.values()) - burstStart) / 1000;

    const rows: Array<[string, string]> = [
      ['topology', TOPOLOGY === 'split' ? 'api and worker processes' : 'one process (nagaya serve)'],
      [`POST to running, ${PACED} containers ${LANES} at a time: p50 ms`, quantile(latencies, 0.5).toFixed(1)],
      ['  p90 ms', quantile(latencies, 0.9).toFixed(1)],
      ['  p99 ms', quantile(latencies, 0.99).toFixed(1)],
      ['  max ms', latencies.at(-1)!.toFixed(1)],
      ['  of which POST to 202 (the API): p50 ms', quantile(accepted, 0.5).toFixed(1)],
      ['  of which POST to 202 (the API): p99 ms', quantile(accepted, 0.99).toFixed(1)],
      [`${BURST} containers as fast as accepted: all POSTs accepted, s`, allAccepted.toFixed(2)],
      [`${BURST} containers: last one running, s`, burstSeconds.toFixed(2)],
    ];
    const width = Math.max(...rows.map((r) => r[0].length));
    console.log(`${'measure'.padEnd(width)}  value\n${'-'.repeat(width)}  -----`);
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    console.log(
      JSON.stringify({
        bench: 'e2e',
        topology: TOPOLOGY,
        post_to_running_ms_p50: quantile(latencies, 0.5),
        post_to_running_ms_p99: quantile(latencies, 0.99),
        launch_500_s: Math.round(burstSeconds * 100) / 100,
      }),
    );
  } finally {
    finished = true;
    for (const server of servers) server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    // stop every container the bench made, and its launcher
    const runtime = await ContainerRuntime.open({ stateDir: join(dir, 'data', 'runtime', NODE) }).catch(() => undefined);
    await runtime?.shutdown().catch(() => undefined);
    await db.end();
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
