// A throwaway nagaya fleet for the benches (bench/e2e.ts, bench/density.ts): its own database on
// the shared Postgres, its own Redis (a private redis-server, so the CPU it spends is ours alone
// to count; BENCH_SHARED_REDIS=1 uses the shared one), its own data directory and subuid/subgid
// files, and the API and worker as processes of their own, as docker-compose.yml deploys them
// (BENCH_TOPOLOGY=single: one `nagaya serve` with both roles). stop() ends the servers, every
// container and the launcher, drops the database and removes the directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { ContainerRuntime, removeBridge, removeRuleset } from '../../packages/native/src';
import { testDatabaseUrl, testRedisUrl, withDatabase } from '../../packages/allocator/test/support/test-services';

export const NODE = 'bench';
const BENCH_APP = 'nagaya-bench';

export async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: withDatabase(testDatabaseUrl(), 'postgres') });
  await c.connect();
  await c.query(sql);
  await c.end();
}

export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

export function median(xs: number[]): number {
  return quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}

/** A redis-server of the bench's own on a free port, with a password (read from stdin, never on a command line). */
async function privateRedis(): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
  const password = randomBytes(24).toString('hex');
  // BENCH_SOCKETS=1: the servers reach Redis over a unix socket, as a single-host install can
  const socket = process.env.BENCH_SOCKETS === '1' ? join(mkdtempSync(join(tmpdir(), 'nagaya-bench-redis-')), 'redis.sock') : undefined;
  const child = spawn(
    'redis-server',
    [
      '-',
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      ...(socket ? ['--unixsocket', socket, '--unixsocketperm', '700'] : []),
    ],
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  child.stdin!.end(`requirepass ${password}\n`);
  // (ioredis takes a socket path with its options in the query)
  const url = socket ? `${socket}?password=${password}` : `redis://:${password}@127.0.0.1:${port}`;
  const { Redis } = await import('ioredis');
  for (let i = 0; ; i++) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    const ok = await client.connect().then(
      () => client.ping().then((r) => r === 'PONG'),
      () => false,
    );
    client.disconnect();
    if (ok) break;
    if (i > 100 || child.exitCode !== null) throw new Error('redis-server did not come up');
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise((r) => child.once('exit', r));
  process.once('exit', () => child.kill('SIGKILL'));
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface FleetOptions {
  /** 65536-ID slices in the subuid/subgid files. */
  slices: number;
  /** Extra environment for both servers. */
  env?: Record<string, string>;
  /**
   * bridge: the node sets up container networking on a bridge, tables and subnet of the bench's
   * own (a /21: 2045 addresses), and containers get it by default, as in a real install; none
   * (the default here): loopback only.
   */
  network?: 'bridge' | 'none';
}

/** The bench's own bridge, tables, veth prefix and subnet: never the host's nagaya0. */
function benchNetworkEnv(tag: string): Record<string, string> {
  return {
    NAGAYA_HOST_NETWORK: 'on',
    NAGAYA_DEFAULT_NETWORK_MODE: 'bridge',
    NAGAYA_BRIDGE: `nbb${tag}`,
    NAGAYA_NFT_TABLE: `nbb${tag}`,
    NAGAYA_VETH_PREFIX: `nb${tag.slice(0, 3)}`,
    NAGAYA_NETWORK_CIDR: '10.203.0.0/21',
    NAGAYA_NETWORK_NODE_PREFIX: '21',
    NAGAYA_IP_FORWARD: 'off',
  };
}

/**
 * Tells the bench when containers start: a trigger on the throwaway database NOTIFYs each row
 * that gets its started_at (or fails), and one LISTEN connection hands them out. No polling: a
 * poll loop would load Postgres with hundreds of queries a second and slow down what we measure.
 */
export class StartWatcher {
  private readonly waiting = new Map<string, { resolve: (startedAt: number) => void; reject: (err: Error) => void }>();
  private readonly seen = new Map<string, number>();
  private failure: Error | undefined;

  private constructor(private readonly client: pg.Client) {}

  static async open(url: string): Promise<StartWatcher> {
    const client = new pg.Client({ connectionString: url, application_name: BENCH_APP });
    await client.connect();
    await client.query(`
      CREATE OR REPLACE FUNCTION bench_notify_started() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('bench_started', NEW.name || ' ' || NEW.state || ' ' ||
          coalesce((extract(epoch FROM NEW.started_at) * 1000)::bigint::text, '0') || ' ' || coalesce(NEW.error::text, ''));
        RETURN NULL;
      END $$;
      CREATE TRIGGER bench_notify_started AFTER UPDATE ON container FOR EACH ROW
        WHEN ((NEW.started_at IS NOT NULL AND OLD.started_at IS DISTINCT FROM NEW.started_at) OR (NEW.state = 'failed' AND OLD.state <> 'failed'))
        EXECUTE FUNCTION bench_notify_started();`);
    const w = new StartWatcher(client);
    client.on('notification', (n) => w.onNotification(n.payload ?? ''));
    await client.query('LISTEN bench_started');
    return w;
  }

  private onNotification(payload: string): void {
    const [name, state, startedAt, ...error] = payload.split(' ');
    if (!name) return;
    if (state === 'failed') {
      this.fail(new Error(`${name} failed: ${error.join(' ')}`));
      return;
    }
    const at = Number(startedAt);
    const waiter = this.waiting.get(name);
    if (waiter) {
      this.waiting.delete(name);
      waiter.resolve(at);
    } else this.seen.set(name, at);
  }

  /** Resolves with the container's started_at (ms since the epoch). */
  wait(name: string): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    const at = this.seen.get(name);
    if (at !== undefined) {
      this.seen.delete(name);
      return Promise.resolve(at);
    }
    return new Promise((resolve, reject) => this.waiting.set(name, { resolve, reject }));
  }

  /** Ends every wait, now and later, with `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    for (const { reject } of this.waiting.values()) reject(this.failure);
    this.waiting.clear();
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

/** CPU time (ns) of a process, all its threads, from /proc (0 once it is gone). */
export function cpuNs(pid: number): number {
  let total = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended
      }
    }
  } catch {
    return 0;
  }
  return total;
}

/** Resident set size (bytes) of a process, 0 once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Kernel memory the host holds for objects rather than for processes' pages: Slab + KernelStack + PageTables (bytes). */
export function kernelMemBytes(): number {
  const info = readFileSync('/proc/meminfo', 'utf8');
  let total = 0;
  for (const field of ['Slab', 'KernelStack', 'PageTables']) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(info);
    total += m ? Number(m[1]) * 1024 : 0;
  }
  return total;
}

/** Proportional set size (bytes) of a process: its pages, shared ones split among their users (0 once gone). */
export function pssBytes(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function memAvailableBytes(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return Number(m![1]) * 1024;
}

/** The pids of processes whose command line contains `needle` (and starts with `exe`). */
function pidsByCmdline(exe: string, needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith(exe) && argv.some((a) => a.includes(needle))) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

export interface Fleet {
  port: number;
  token: string;
  dir: string;
  dbName: string;
  db: pg.Pool;
  watcher: StartWatcher;
  api: ChildProcess;
  worker: ChildProcess | undefined;
  redisPid: number | undefined;
  redisUrl: string;
  dbUrl: string;
  /** The node's launcher (started by the worker). */
  launcherPid(): number | undefined;
  /** Postgres backends of the API and the worker (not the bench's own). */
  backendPids(): Promise<number[]>;
  post(name: string, body?: Record<string, unknown>): Promise<void>;
  /** An API v1 request on the bench's kept-alive connections (node:http): the parsed answer, or a throw for a status >= 300. */
  call<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
  get(path: string): Promise<Response>;
  stop(): Promise<void>;
}

/** BENCH_SOCKETS=1: the same database over Postgres's unix socket directory instead of TCP. */
function socketUrl(url: string): string {
  if (process.env.BENCH_SOCKETS !== '1') return url;
  const u = new URL(url);
  u.searchParams.set('host', process.env.BENCH_PG_SOCKET_DIR ?? '/var/run/postgresql');
  return u.toString();
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const token = randomBytes(16).toString('hex');
  const port = 18000 + Math.floor(Math.random() * 1000);
  const dbName = `nagaya_bench_e2e_${randomBytes(4).toString('hex')}`;
  const netTag = randomBytes(3).toString('hex').slice(0, 4);
  const dir = mkdtempSync(join(tmpdir(), 'nagaya-bench-'));
  chmodSync(dir, 0o711);
  writeFileSync(join(dir, 'subuid'), `root:3000000000:${options.slices * 65536}\n`);
  writeFileSync(join(dir, 'subgid'), `root:3000000000:${options.slices * 65536}\n`);
  await adminQuery(`CREATE DATABASE ${dbName}`);
  const dbUrl = socketUrl(withDatabase(testDatabaseUrl(), dbName));
  const db = new pg.Pool({ connectionString: dbUrl, max: 2, application_name: BENCH_APP });
  const redis = process.env.BENCH_SHARED_REDIS === '1' ? undefined : await privateRedis();
  const servers: ChildProcess[] = [];
  let watcher: StartWatcher | undefined;
  const agent = new Agent({ keepAlive: true });
  let stopping = false;
  const failures: Error[] = [];
  const stop = async () => {
    stopping = true;
    for (const server of servers) server.kill('SIGTERM');
    await Promise.all(
      servers.map((s) => (s.exitCode === null && s.signalCode === null ? new Promise((r) => s.once('exit', r)) : undefined)),
    );
    // stop every container the bench made, and its launcher
    const stateDir = join(dir, 'data', 'runtime', NODE);
    if (existsSync(stateDir)) {
      const runtime = await ContainerRuntime.open({ stateDir }).catch(() => undefined);
      await runtime?.shutdown().catch(() => undefined);
    }
    agent.destroy();
    await watcher?.close();
    await db.end().catch(() => undefined);
    await redis?.stop();
    await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    if (options.network === 'bridge') {
      await removeRuleset(`nbb${netTag}`).catch(() => undefined);
      await removeBridge(`nbb${netTag}`).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const env = {
      ...process.env,
      PORT: String(port),
      NAGAYA_LISTEN: '127.0.0.1',
      DATABASE_URL: dbUrl,
      REDIS_URL: redis?.url ?? testRedisUrl(),
      NAGAYA_ADMIN_TOKEN: token,
      NAGAYA_DATA_DIR: join(dir, 'data'),
      NAGAYA_NODE_NAME: NODE,
      NAGAYA_QUEUE_PREFIX: `bench${randomBytes(3).toString('hex')}`,
      NAGAYA_SUBUID_PATH: join(dir, 'subuid'),
      NAGAYA_SUBGID_PATH: join(dir, 'subgid'),
      NAGAYA_LOG: 'silent',
      NAGAYA_WORKER_CONCURRENCY: process.env.NAGAYA_WORKER_CONCURRENCY ?? '16',
      // no host bridge or nftables tables unless the bench asks (its own, then)
      NAGAYA_HOST_NETWORK: 'off',
      NAGAYA_DEFAULT_NETWORK_MODE: 'none',
      ...(options.network === 'bridge' ? benchNetworkEnv(netTag) : {}),
      ...options.env,
    };
    const serve = (role: string) => {
      const child = spawn(
        process.execPath,
        [
          ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
          resolve(__dirname, '../../packages/server/dist/cli/nagaya.js'),
          'serve',
          '--role',
          role,
        ],
        { env, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      // a server that dies ends the bench at once instead of leaving it waiting for launches
      child.on('exit', (code, signal) => {
        if (stopping) return;
        const err = new Error(`nagaya serve --role ${role} exited (${signal ?? code}) during the bench`);
        failures.push(err);
        watcher?.fail(err);
      });
      servers.push(child);
      return child;
    };
    const split = process.env.BENCH_TOPOLOGY !== 'single';
    const api = serve(split ? 'api' : 'all');
    const worker = split ? serve('worker') : undefined;
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 300 || failures[0]) throw failures[0] ?? new Error('nagaya did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; ; i++) {
      // the worker has sent its first heartbeat
      const { nodes } = (await (await get('/api/v1/nodes')).json()) as { nodes: Array<{ name: string; online: boolean }> };
      if (nodes.some((n) => n.name === NODE && n.online)) break;
      if (i > 300 || failures[0]) throw failures[0] ?? new Error(`worker ${NODE} did not come online`);
      await new Promise((r) => setTimeout(r, 100));
    }
    watcher = await StartWatcher.open(dbUrl);
    const stateDir = join(dir, 'data', 'runtime', NODE);
    const w = watcher;
    return {
      port,
      token,
      dir,
      dbName,
      db,
      watcher: w,
      api,
      worker,
      redisPid: redis?.pid,
      redisUrl: env.REDIS_URL,
      dbUrl,
      launcherPid: () => pidsByCmdline('nagaya-launcher', stateDir)[0],
      backendPids: async () =>
        (
          await db.query<{ pid: number }>(
            'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name <> $1 AND pid <> pg_backend_pid()',
            [BENCH_APP],
          )
        ).rows.map((r) => r.pid),
      post: (name, body = {}) => postContainer(agent, port, token, { name, image: 'busybox', command: ['sleep', '100000'], ...body }),
      call: (method, path, body, headers) => callApi(agent, port, token, method, path, body, headers),
      get,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** See Fleet.call: node:http on kept-alive connections, for the reason postContainer gives. */
function callApi<T>(
  agent: Agent,
  port: number,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, ...extraHeaders };
  if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port, method, path: `/api/v1${path}`, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if ((res.statusCode ?? 500) >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
        else resolve(JSON.parse(text) as T);
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * POST /api/v1/containers with `body`; resolves once it is accepted (202). Through node:http on
 * kept-alive connections rather than fetch: fetch (undici, WHATWG streams) cost the bench about
 * 1 ms of CPU per request here, on the same two cores as the system it measures.
 */
function postContainer(agent: Agent, port: number, token: string, body: Record<string, unknown>): Promise<void> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/containers',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          res.statusCode === 202
            ? resolve()
            : reject(new Error(`POST ${body.name}: ${res.statusCode} ${Buffer.concat(chunks).toString()}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** CPU time (ns) of the fleet's processes: per part, and per Postgres backend. */
export interface CpuSnapshot {
  parts: Record<string, number>;
  backends: Map<number, number>;
}

/** Takes a CPU snapshot of the fleet's processes. */
export async function cpuSnapshot(fleet: Fleet): Promise<CpuSnapshot> {
  const launcher = fleet.launcherPid();
  const backends = new Map((await fleet.backendPids()).map((pid) => [pid, cpuNs(pid)]));
  const parts: Record<string, number> = {
    api: cpuNs(fleet.api.pid!),
    worker: fleet.worker ? cpuNs(fleet.worker.pid!) : 0,
    launcher: launcher ? cpuNs(launcher) : 0,
    redis: fleet.redisPid ? cpuNs(fleet.redisPid) : 0,
  };
  return { parts, backends };
}

/**
 * What each part spent between two snapshots (ns). Postgres: every backend of the API and the
 * worker at the end, less what it had spent at the start (a backend opened in between counts
 * whole; one closed in between is missed).
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.parts)) out[k] = Math.max(0, v - (before.parts[k] ?? 0));
  out.postgres = 0;
  for (const [pid, ns] of after.backends) out.postgres += Math.max(0, ns - (before.backends.get(pid) ?? 0));
  return out;
}
