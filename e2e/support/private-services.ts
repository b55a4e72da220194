// Private Redis and Postgres servers for fault tests that stop and start them: restarting the
// machine's shared ones would disturb every other test running in parallel. Each runs on a
// random port with its data in a temp directory, as a child of the test process; stop() and
// destroy() always end it, and an exit hook kills whatever a crashed test left.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
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

async function waitExit(child: ChildProcess | undefined, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Sends PING over a raw socket: true when Redis answers PONG. */
function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/** A redis-server of our own (no persistence: a restart loses every queue, as the reconciler expects). */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = track(spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' }));
    await eventually(async () => ((await redisPing(this.port)) ? true : undefined), 15_000, `redis on ${this.port}`);
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
  const versions = readdirSync('/usr/lib/postgresql').filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/${name}`))
    .sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error(`no /usr/lib/postgresql/*/bin/${name}: install postgresql`);
  return `/usr/lib/postgresql/${versions[0]}/bin/${name}`;
}

/** A Postgres cluster of our own: initdb into a temp directory, run as the postgres user, trust auth. */
export class PrivatePostgres {
  private child: ChildProcess | undefined;
  private readonly uid: number;
  private readonly gid: number;

  private constructor(readonly dir: string, readonly port: number) {
    this.uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    this.gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  }

  /** initdb, start, and create the database `nagaya`. */
  static async start(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'nagaya-pg-'));
    const p = new PrivatePostgres(dir, await freePort());
    chownSync(dir, p.uid, p.gid);
    chmodSync(dir, 0o700);
    execFileSync(postgresBin('initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'],
      { uid: p.uid, gid: p.gid, stdio: 'ignore', cwd: dir });
    await p.start();
    const c = new pg.Client({ connectionString: p.url('postgres') });
    await c.connect();
    await c.query('CREATE DATABASE nagaya');
    await c.end();
    return p;
  }

  url(database = 'nagaya'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    this.child = track(spawn(postgresBin('postgres'), [
      '-D', join(this.dir, 'data'), '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1',
      // fsync off is safe here: a killed server's writes are still in the OS page cache. Not
      // synchronous_commit=off: that loses acknowledged commits when the server is killed.
      '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
    ], { uid: this.uid, gid: this.gid, stdio: 'ignore', cwd: this.dir }));
    await eventually(async () => {
      const c = new pg.Client({ connectionString: this.url('postgres'), connectionTimeoutMillis: 1000 });
      try {
        await c.connect();
        await c.query('SELECT 1');
        return true;
      } finally {
        await c.end().catch(() => undefined);
      }
    }, 30_000, `postgres on ${this.port}`, 200);
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
