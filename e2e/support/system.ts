// The whole system as it runs in production: `nagaya serve --role api` and one `nagaya serve
// --role worker` per node, each its own OS process, on a throwaway database, data directory,
// queue prefix, port and subuid file. Tests drive it through the REST API and the CLI binary.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { ContainerRuntime, removeBridge, removeRuleset } from '@nagaya/native';
import { killProcessesInUidRange } from '../../packages/native/test/helpers';
import { ApiClient } from '../../packages/server/src/cli/api-client';

export { eventually, rawRequest } from '../../packages/server/test/support/test-helpers';
import { laneChunk } from '../../packages/server/test/support/test-helpers';
import { createTestDatabase, type TestDatabase } from '../../packages/allocator/test/support/test-database';
import { testRedisUrl } from '../../packages/allocator/test/support/test-services';

export const REPO = resolve(__dirname, '..', '..');
/** The built CLI (`npm test` builds before it runs the suite). */
export const CLI = join(REPO, 'packages/server/dist/cli/nagaya.js');
export const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef';
export const SLICE = 65536;

/** A host uid range of 2^24 IDs inside 2.5e9–3.5e9 that no other test file is likely to use. */
export async function randomUidStart(): Promise<number> {
  // host IDs 2.5e9..3.5e9 in 2^24 chunks, split into lanes by vitest's worker (VITEST_POOL_ID):
  // files that run at once never draw the same chunk, so a slice's processes are its own
  const first = Math.ceil(2.5e9 / 2 ** 24);
  const last = Math.floor(3.5e9 / 2 ** 24) - 1;
  return (await laneChunk(first, last)) * 2 ** 24;
}

/** Returns a TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

/** The environment of a child process: the caller's, less every NAGAYA_* setting, plus `env`. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('NAGAYA_') && !['PORT', 'DATABASE_URL', 'REDIS_URL'].includes(k)) out[k] = v;
  return { ...out, ...env };
}

/** One `nagaya serve` child process, its log in a file of the system's directory. */
export class ServeProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly ready: Promise<void>;
  /** The log lines of this process (JSON objects), newest last. */
  readonly lines: Array<Record<string, unknown>> = [];
  private readonly log: WriteStream;

  constructor(
    readonly role: 'api' | 'worker',
    readonly name: string,
    env: NodeJS.ProcessEnv,
    logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.child = spawn(process.execPath, [CLI, 'serve', '--role', role], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolveExit) => this.child.once('exit', (code, signal) => resolveExit({ code, signal })));
    const readyMsg = role === 'api' ? 'api listening' : 'worker node started';
    this.ready = new Promise<void>((resolveReady, reject) => {
      let buffered = '';
      this.child.stdout!.on('data', (chunk: Buffer) => {
        this.log.write(chunk);
        buffered += chunk.toString('utf8');
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          try {
            const entry = JSON.parse(line) as Record<string, unknown>;
            this.lines.push(entry);
            if (entry.msg === readyMsg) {
              clearTimeout(timer);
              resolveReady();
            }
          } catch {
            // not a log line
          }
        }
      });
      this.child.stderr!.on('data', (chunk: Buffer) => this.log.write(chunk));
      void this.exited.then(({ code, signal }) =>
        reject(new Error(`${role} ${name} exited (${code ?? signal}) before it was ready; see ${logFile}`)),
      );
      const timer = setTimeout(() => {
        reject(new Error(`${role} ${name} was not ready within 60 s; see ${logFile}`));
        this.child.kill('SIGKILL');
      }, 60_000);
      timer.unref();
      void this.exited.then(() => clearTimeout(timer));
    });
    this.ready.catch(() => undefined);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends a signal and waits for the process to end. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
    this.log.end();
  }
}

export interface SystemOptions {
  /** Slices in the default pool (written to a subuid file of the system's own). */
  slices?: number;
  nodes?: string[];
  /** Use this database instead of a throwaway one on the shared test server (e.g. a private Postgres). */
  databaseUrl?: string;
  redisUrl?: string;
  /** More environment for every process. */
  env?: Record<string, string>;
  workerConcurrency?: number;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A nagaya made of separate API and worker processes. */
export class NagayaSystem {
  api!: ServeProcess;
  readonly workers = new Map<string, ServeProcess>();
  url = '';
  port = 0;
  readonly admin: ApiClient;
  readonly db: pg.Pool;
  private readonly baseEnv: Record<string, string>;

  private constructor(
    readonly dir: string,
    readonly uidStart: number,
    readonly slices: number,
    readonly databaseUrl: string,
    private readonly testDb: TestDatabase | undefined,
    readonly prefix: string,
    options: SystemOptions,
  ) {
    this.db = testDb?.pool ?? new pg.Pool({ connectionString: databaseUrl, max: 4 });
    this.db.on('error', () => undefined);
    // a fault test kills Postgres under checked-out clients too
    this.db.on('connect', (client) => client.on('error', () => undefined));
    this.admin = new ApiClient('http://127.0.0.1:0', ADMIN_TOKEN);
    this.baseEnv = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: options.redisUrl ?? testRedisUrl(),
      NAGAYA_LISTEN: '127.0.0.1',
      NAGAYA_DATA_DIR: this.dataDir,
      NAGAYA_ADMIN_TOKEN: ADMIN_TOKEN,
      NAGAYA_QUEUE_PREFIX: prefix,
      NAGAYA_SUBUID_PATH: join(dir, 'subuid'),
      NAGAYA_SUBGID_PATH: join(dir, 'subgid'),
      NAGAYA_HEARTBEAT_MS: '500',
      NAGAYA_NODE_OFFLINE_MS: '3000',
      NAGAYA_RECONCILE_MS: '1000',
      NAGAYA_ORPHAN_LEASE_MS: '3000',
      NAGAYA_WORKER_CONCURRENCY: String(options.workerConcurrency ?? 8),
      // no host bridge or nftables tables unless a test asks (they are the host's, shared)
      NAGAYA_HOST_NETWORK: 'off',
      NAGAYA_DEFAULT_NETWORK_MODE: 'none',
      ...options.env,
    };
  }

  /** Starts the API and one worker per node, each in its own process, and waits until all answer. */
  static async start(options: SystemOptions = {}): Promise<NagayaSystem> {
    const dir = mkdtempSync(join(tmpdir(), 'nagaya-e2e-'));
    const slices = options.slices ?? 64;
    const uidStart = await randomUidStart();
    writeFileSync(join(dir, 'subuid'), `root:${uidStart}:${slices * SLICE}\n`);
    writeFileSync(join(dir, 'subgid'), `root:${uidStart}:${slices * SLICE}\n`);
    const testDb = options.databaseUrl ? undefined : await createTestDatabase('nagaya_e2e');
    const prefix = `e2e${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const system = new NagayaSystem(dir, uidStart, slices, options.databaseUrl ?? testDb!.url, testDb, prefix, options);
    try {
      await system.startApi();
      await Promise.all((options.nodes ?? ['node-a']).map((n) => system.startWorker(n)));
    } catch (err) {
      await system.stop();
      throw err;
    }
    return system;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** The launcher state directory of a node (as WorkerNode.stateDir). */
  stateDir(node: string): string {
    return join(this.dataDir, 'runtime', node);
  }

  /** The environment a nagaya process of this system gets. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return childEnv({ ...this.baseEnv, ...extra });
  }

  /** Starts (or restarts) the API process on this system's port. */
  async startApi(): Promise<ServeProcess> {
    if (this.api?.running) await this.api.kill();
    for (let attempt = 0; ; attempt++) {
      const port = this.port || (await freePort());
      this.api = new ServeProcess('api', 'api', this.env({ PORT: String(port), NAGAYA_NODE_NAME: 'api' }), join(this.dir, 'api.log'));
      try {
        await this.api.ready;
        this.port = port;
        this.url = `http://127.0.0.1:${port}`;
        (this.admin as { baseUrl: string }).baseUrl = this.url;
        return this.api;
      } catch (err) {
        if (attempt >= 3 || this.port) throw err; // a port taken between freePort and listen: try another
      }
    }
  }

  /** Starts a worker process for `node` and waits until it takes jobs. */
  async startWorker(node: string): Promise<ServeProcess> {
    const worker = new ServeProcess('worker', node, this.env({ NAGAYA_NODE_NAME: node, PORT: '0' }), join(this.dir, `worker-${node}.log`));
    this.workers.set(node, worker);
    await worker.ready;
    return worker;
  }

  /** kill -9 (or another signal) a worker process and wait until it is gone. */
  async killWorker(node: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.workers.get(node)?.kill(signal);
  }

  client(token?: string): ApiClient {
    return new ApiClient(this.url, token);
  }

  /** Runs the `nagaya` CLI binary against this system and returns its exit code and output. */
  cli(args: string[], token: string | undefined = ADMIN_TOKEN, timeoutMs = 60_000): Promise<CliResult> {
    return runCli(args, { NAGAYA_URL: this.url, ...(token ? { NAGAYA_TOKEN: token } : {}) }, timeoutMs);
  }

  /** Opens a runtime on a node's launcher, to look at what really runs there. */
  async runtime(node: string): Promise<ContainerRuntime> {
    return ContainerRuntime.open({ stateDir: this.stateDir(node) });
  }

  async count(table: string): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    return Number(rows[0]!.n);
  }

  /**
   * Stops every process, kills the containers and launchers of every node, removes the bridge and
   * tables the workers were named (NAGAYA_BRIDGE and NAGAYA_NFT_TABLE), drops the database. Each
   * step is bounded in time and runs whatever became of the one before it: a launcher that does not
   * answer must not leave the containers, the bridge, the tables and the database behind.
   */
  async stop(): Promise<void> {
    const all = [this.api, ...this.workers.values()].filter(Boolean);
    await settle('kill the nagaya processes', Promise.all(all.map((p) => p.kill('SIGKILL'))), 10_000);
    for (const node of this.workers.keys()) {
      if (!existsSync(this.stateDir(node))) continue;
      await settle(
        `shut down the launcher of ${node}`,
        this.runtime(node).then((r) => r.shutdown()),
        15_000,
      );
      killLauncher(this.stateDir(node)); // one that did not go when asked
    }
    killProcessesInUidRange(this.uidStart, this.uidStart + this.slices * SLICE);
    const { NAGAYA_HOST_NETWORK: on, NAGAYA_BRIDGE: bridge, NAGAYA_NFT_TABLE: table } = this.baseEnv;
    // only a bridge and tables named for this system: never the host's default nagaya0 and nagaya
    if (on === 'on' && bridge && table) {
      await settle(`remove the tables ${table}`, removeRuleset(table), 10_000);
      await settle(`remove the bridge ${bridge}`, removeBridge(bridge), 10_000);
    }
    if (this.testDb) await settle('drop the database', this.testDb.drop(), 15_000);
    else await settle('close the database pool', this.db.end(), 5_000);
    if (!process.env.NAGAYA_E2E_KEEP) rmSync(this.dir, { recursive: true, force: true });
  }

  /** What of this system is still on the host after stop(): its launchers, its containers' processes, its bridge, its tables. */
  leftovers(): string[] {
    const found: string[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
        if (cmdline === '') continue; // a zombie: nothing left of it but its exit status
        if (cmdline.includes(this.dir)) found.push(`process ${entry}: ${cmdline.split('\0').join(' ').trim()}`);
        else if (uid >= this.uidStart && uid < this.uidStart + this.slices * SLICE) found.push(`process ${entry} of uid ${uid}`);
      } catch {
        // gone meanwhile
      }
    }
    const { NAGAYA_BRIDGE: bridge, NAGAYA_NFT_TABLE: table } = this.baseEnv;
    if (bridge && existsSync(`/sys/class/net/${bridge}`)) found.push(`bridge ${bridge}`);
    if (table) {
      const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
      for (const family of ['bridge', 'inet']) if (tables.includes(`table ${family} ${table}\n`)) found.push(`table ${family} ${table}`);
    }
    return found;
  }
}

/** Waits for a teardown step for at most ms; says so, and goes on, when it fails or hangs. */
async function settle(what: string, step: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${ms} ms`), ms);
  });
  const outcome = await Promise.race([
    step.then(
      () => undefined,
      (err: unknown) => (err as Error).message,
    ),
    timedOut,
  ]);
  clearTimeout(timer);
  if (outcome !== undefined) console.warn(`[e2e stop] ${what}: ${outcome}`);
}

/** SIGKILLs the launcher of a state directory if it still runs (its pid file names its pid and start time). */
function killLauncher(stateDir: string): void {
  try {
    const [pid, startTime] = readFileSync(join(stateDir, 'launcher.pid'), 'utf8').trim().split(' ').map(Number);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22, the start time, counted after the command name's closing parenthesis
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) === startTime) process.kill(pid!, 'SIGKILL');
  } catch {
    // no pid file (it exited and removed it) or no such process
  }
}

/** Runs the `nagaya` CLI with NAGAYA_URL/NAGAYA_TOKEN (and nothing else of nagaya's) in its environment. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolveRun) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: childEnv(env), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}
