// Private Redis and Postgres servers for fault tests that stop and start them: restarting the
// machine's shared ones would disturb every other test running in parallel. Each runs on a
// random port with its data in a temp directory, as a child of the test process; stop() and
// destroy() always end it, and an exit hook kills whatever a crashed test left. Like the shared
// ones after scripts/ensure-services.sh, they want a password (`legacy` starts them as that
// script's earlier versions left the machine: trust and no password, to test the script on).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import pg from 'pg';
import { eventually, freePort } from './system';

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function running(child: ChildProcess | undefined): boolean {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

async function waitExit(child: ChildProcess | undefined, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Sends (AUTH and) PING over a raw socket: true when Redis answers PONG. */
function redisPing(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    let answer = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write(`${password ? `AUTH ${password}\r\n` : ''}PING\r\n`));
    s.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('+PONG')) done(true);
      else if (answer.includes('-')) done(false);
    });
  });
}

/** A password of hex digits (nothing to escape in a URL or a config line). */
function newPassword(): string {
  return randomBytes(24).toString('hex');
}

/** A redis-server of our own (no persistence: a restart loses every queue, as the reconciler expects). */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  /** undefined: a Redis without a password (`legacy`). */
  private constructor(
    readonly port: number,
    readonly password: string | undefined,
  ) {}

  static async start(options: { legacy?: boolean } = {}): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort(), options.legacy ? undefined : newPassword());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://${this.password ? `:${this.password}@` : ''}127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // running already (a test's cleanup starts it whatever state the test left): a second server
    // would fail to bind, and this.child would lose the first, which then outlives the test
    if (running(this.child)) return;
    // `-` reads the password from stdin, as ensure-services.sh does: never on a command line
    this.child = track(
      spawn(
        'redis-server',
        ['-', '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
        { stdio: ['pipe', 'ignore', 'ignore'] },
      ),
    );
    this.child.stdin!.end(this.password ? `requirepass ${this.password}\n` : '');
    await eventually(async () => ((await redisPing(this.port, this.password)) ? true : undefined), 15_000, `redis on ${this.port}`);
  }

  /** Stops it hard (SIGKILL): what a crash or an OOM kill looks like to clients. */
  async stop(): Promise<void> {
    await waitExit(this.child, 'SIGKILL');
    this.child = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
  }
}

function postgresBin(name: string): string {
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/${name}`))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error(`no /usr/lib/postgresql/*/bin/${name}: install postgresql`);
  return `/usr/lib/postgresql/${versions[0]}/bin/${name}`;
}

/**
 * A Postgres cluster of our own: initdb into a temp directory, run as the postgres user. The
 * superuser `postgres` has a password over TCP (scram-sha-256) and peer over the socket, which
 * is in `dir` (0711, so a test can knock on it as another user). `legacy`: what the machine's
 * cluster looked like before ensure-services.sh took trust away (`local all all trust`,
 * `host all all 127.0.0.1/32 trust`), and no password.
 */
export class PrivatePostgres {
  private child: ChildProcess | undefined;
  private readonly uid: number;
  private readonly gid: number;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly password: string | undefined,
  ) {
    this.uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    this.gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  }

  /** initdb, start, and create the database `nagaya`. */
  static async start(options: { legacy?: boolean } = {}): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'nagaya-pg-'));
    const p = new PrivatePostgres(dir, await freePort(), options.legacy ? undefined : newPassword());
    chownSync(dir, p.uid, p.gid);
    chmodSync(dir, 0o711);
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, p.password ?? '', { mode: 0o600 });
    chownSync(pwfile, p.uid, p.gid);
    const auth = p.password ? ['--auth-local=peer', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`] : ['--auth=trust'];
    execFileSync(postgresBin('initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', ...auth, '--no-sync', '-E', 'UTF8'], {
      uid: p.uid,
      gid: p.gid,
      stdio: 'ignore',
      cwd: dir,
    });
    rmSync(pwfile);
    if (!p.password) {
      const hba = join(dir, 'data', 'pg_hba.conf');
      writeFileSync(hba, 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
      chownSync(hba, p.uid, p.gid);
    }
    await p.start();
    const c = new pg.Client({ connectionString: p.url('postgres') });
    await c.connect();
    await c.query('CREATE DATABASE nagaya');
    await c.end();
    return p;
  }

  /** The superuser's URL. */
  url(database = 'nagaya'): string {
    return `postgres://postgres${this.password ? `:${this.password}` : ''}@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    if (running(this.child)) return; // as PrivateRedis.start
    this.child = track(
      spawn(
        postgresBin('postgres'),
        [
          '-D',
          join(this.dir, 'data'),
          '-p',
          String(this.port),
          '-k',
          this.dir,
          '-c',
          'listen_addresses=127.0.0.1',
          // fsync off is safe here: a killed server's writes are still in the OS page cache. Not
          // synchronous_commit=off: that loses acknowledged commits when the server is killed.
          '-c',
          'fsync=off',
          '-c',
          'full_page_writes=off',
          '-c',
          'max_connections=200',
        ],
        { uid: this.uid, gid: this.gid, stdio: 'ignore', cwd: this.dir },
      ),
    );
    await eventually(
      async () => {
        const c = new pg.Client({ connectionString: this.url('postgres'), connectionTimeoutMillis: 1000 });
        try {
          await c.connect();
          await c.query('SELECT 1');
          return true;
        } finally {
          await c.end().catch(() => undefined);
        }
      },
      30_000,
      `postgres on ${this.port}`,
      200,
    );
  }

  /** Stops it: 'immediate' is SIGQUIT (no checkpoint, as a crash), 'fast' is SIGINT. */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    await waitExit(this.child, mode === 'immediate' ? 'SIGQUIT' : 'SIGINT');
    this.child = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop('immediate');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Stops the registry scripts/ensure-services.sh started for a data directory (it runs detached,
 * its pid in <data dir>/registry/registry.pid), so a test that ran the script leaves none behind.
 */
export function stopScriptRegistry(dataDir: string): void {
  const pidFile = join(dataDir, 'registry', 'registry.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('docker-registry')) process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}
