import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrations } from '@nagaya/migrations';
import { readServiceUrlFile } from '../../packages/server/src/deploy/service-urls';
import { runAsNobody } from '../../packages/native/test/support/as-nobody';
import { PrivatePostgres, PrivateRedis, stopScriptRegistry } from '../support/private-services';
import { freePort, REPO } from '../support/system';

/**
 * scripts/ensure-services.sh (what `npm run up` and CI run first) on a private Postgres and Redis
 * set up as the machine's were before it: Postgres trusting every local and loopback connection,
 * Redis without a password. Before, any local user (`nobody` here) was a Postgres superuser and
 * could write an admin token into api_token; after, every way in without the credentials is
 * refused, the credentials the script wrote (0600, root's) work, root still administers
 * Postgres through peer, and a second run changes nothing.
 */

let postgres: PrivatePostgres;
let redis: PrivateRedis;
let dataDir: string;
let scriptEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  [postgres, redis] = await Promise.all([PrivatePostgres.start({ legacy: true }), PrivateRedis.start({ legacy: true })]);
  dataDir = mkdtempSync(join(tmpdir(), 'nagaya-services-'));
  scriptEnv = {
    ...process.env,
    NAGAYA_DATA_DIR: dataDir,
    PGPORT: String(postgres.port),
    PG_SOCKET_DIR: postgres.dir,
    REDIS_PORT: String(redis.port),
    // a registry of its own: the machine's (on 5000) has other credentials
    REGISTRY_PORT: String(await freePort()),
  };
  // the schema as a server run before the script existed left it: made by the superuser
  await runMigrations(postgres.url('nagaya'));
}, 120_000);
afterAll(async () => {
  await Promise.all([postgres?.destroy(), redis?.destroy()]);
  if (dataDir) stopScriptRegistry(dataDir);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function ensureServices(): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', [join(REPO, 'scripts/ensure-services.sh')], { env: scriptEnv, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

const INSERT_ADMIN = `INSERT INTO api_token (name, role, token_hash) VALUES ('intruder', 'admin', repeat('a', 64))`;

/** What `nobody` gets from psql with no password: over TCP and over the socket, as postgres and as nagaya. */
function nobodyPsql(host: string, user: string, sql = 'select current_user') {
  return runAsNobody('psql', ['-X', '-w', '-q', '-At', '-h', host, '-p', String(postgres.port), '-U', user, '-d', 'nagaya', '-c', sql]);
}

function nobodyRedis(command: string[]) {
  return runAsNobody('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), ...command]);
}

describe('scripts/ensure-services.sh', () => {
  it('before: every local user is the Postgres superuser and Redis answers anyone', () => {
    const tcp = nobodyPsql('127.0.0.1', 'postgres', `${INSERT_ADMIN} RETURNING current_user`);
    expect(tcp.stdout.trim()).toBe('postgres');
    expect(nobodyPsql(postgres.dir, 'postgres').stdout.trim()).toBe('postgres');
    expect(nobodyRedis(['ping']).stdout.trim()).toBe('PONG');
    execFileSync('psql', ['-X', postgres.url('nagaya'), '-c', `DELETE FROM api_token WHERE name = 'intruder'`], { stdio: 'ignore' });
  });

  it('after: no way in without credentials, for nobody', async () => {
    const r = await ensureServices();
    expect(r.code, r.out).toBe(0);
    for (const [host, user] of [
      ['127.0.0.1', 'postgres'],
      [postgres.dir, 'postgres'],
      ['127.0.0.1', 'nagaya'],
      [postgres.dir, 'nagaya'],
    ] as const) {
      const res = nobodyPsql(host, user, `${INSERT_ADMIN} RETURNING current_user`);
      expect(res.status, `psql -h ${host} -U ${user}: ${res.stdout}`).not.toBe(0);
      expect(res.stderr).toMatch(/no password supplied|Peer authentication failed|password authentication failed/);
    }
    const ping = nobodyRedis(['ping']);
    expect(ping.stdout).toMatch(/NOAUTH/);
    expect(ping.stdout).not.toMatch(/PONG/);
    expect(nobodyRedis(['config', 'get', 'requirepass']).stdout).toMatch(/NOAUTH/);
    // and the credentials are root's alone
    for (const f of ['database-url', 'redis-url']) {
      expect(statSync(join(dataDir, 'secrets', f)).mode & 0o777, f).toBe(0o600);
      const cat = runAsNobody('cat', [join(dataDir, 'secrets', f)]);
      expect(cat.status).not.toBe(0);
      expect(cat.stderr).toMatch(/Permission denied/);
    }
    expect(statSync(join(dataDir, 'secrets')).mode & 0o777).toBe(0o700);
  });

  it('the credentials it wrote work, for the schema made before too; root administers through peer', async () => {
    const databaseUrl = readServiceUrlFile(dataDir, 'database');
    expect(databaseUrl).toMatch(new RegExp(`^postgres://nagaya:[0-9a-f]{64}@127\\.0\\.0\\.1:${postgres.port}/nagaya$`));
    expect(await runMigrations(databaseUrl)).toEqual([]);
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      // the tables the superuser made are the role's now: it writes them, and it may make test databases
      await db.query(`INSERT INTO api_token (name, role, token_hash, project) VALUES ('ok', 'viewer', repeat('b', 64), 'default')`);
      const { rows } = await db.query<{ super: boolean; createdb: boolean }>(
        `SELECT rolsuper AS super, rolcreatedb AS createdb FROM pg_roles WHERE rolname = current_user`,
      );
      expect(rows[0]).toEqual({ super: false, createdb: true });
      await db.query('CREATE DATABASE nagaya_services_probe');
      await db.query('DROP DATABASE nagaya_services_probe');
    } finally {
      await db.end();
    }
    const client = new Redis(readServiceUrlFile(dataDir, 'redis'), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    const admin = execFileSync(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        'psql',
        '-X',
        '-At',
        '-h',
        postgres.dir,
        '-p',
        String(postgres.port),
        '-d',
        'postgres',
        '-c',
        `select current_user, (select count(*) from pg_hba_file_rules where auth_method = 'trust')`,
      ],
      { encoding: 'utf8' },
    );
    expect(admin.trim()).toBe('postgres|0');
  });

  it('runs again without changing anything', async () => {
    const hba = readFileSync(join(postgres.dir, 'data', 'pg_hba.conf'), 'utf8');
    const before = ['database-url', 'redis-url'].map((f) => readFileSync(join(dataDir, 'secrets', f), 'utf8'));
    const r = await ensureServices();
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toMatch(/pg_hba.conf:|setting one|creating database/);
    expect(readFileSync(join(postgres.dir, 'data', 'pg_hba.conf'), 'utf8')).toBe(hba);
    expect(['database-url', 'redis-url'].map((f) => readFileSync(join(dataDir, 'secrets', f), 'utf8'))).toEqual(before);
    expect(nobodyPsql('127.0.0.1', 'postgres').status).not.toBe(0);
    expect(nobodyRedis(['ping']).stdout).toMatch(/NOAUTH/);
  });

  it('starts a stopped Redis with the password, which no command line shows', async () => {
    await redis.stop();
    const r = await ensureServices();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/starting Redis/);
    const client = new Redis(readServiceUrlFile(dataDir, 'redis'), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))![1]);
    client.disconnect();
    try {
      const password = new URL(readServiceUrlFile(dataDir, 'redis')).password;
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(password);
      expect(nobodyRedis(['ping']).stdout).toMatch(/NOAUTH/);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });
});
