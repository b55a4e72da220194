import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrations } from '@nagaya/migrations';
import { startNagaya } from '@nagaya/server';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl, withDatabase } from '../../allocator/test/support/test-services';
import { ApiClient } from '../src/cli/api-client';
import { ADMIN_TOKEN, eventually, startTestFleet, waitRunning, type TestFleet } from './support/test-server';

// An installation of the release before projects, upgraded with containers running: everything
// lands in project `default` and keeps running. The earlier release's schema is made by undoing
// the projects migration on a database that ran it (and checked against a database migrated only
// as far as that release), so the containers, tokens, jobs and images are real ones.

let fleet: TestFleet;
let operatorToken: string;
/** Where the projects migration is in the list (later ones came after it). */
const PROJECTS = migrations.findIndex((m) => new m().name === 'Projects1764800000000');
let before: { id: string; pid: number };

/** Every table's columns (with types), constraints and indexes: what two schemas must agree on. */
async function schemaOf(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ line: string }>(`
      SELECT format('column %s.%s %s %s', table_name, column_name, data_type, is_nullable) AS line
        FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'nagaya_migrations'
      UNION ALL
      SELECT format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid)) FROM pg_constraint
       WHERE connamespace = 'public'::regnamespace AND conrelid <> 'nagaya_migrations'::regclass
      UNION ALL
      SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'nagaya_migrations'
      UNION ALL
      SELECT format('function %s', proname) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
      ORDER BY 1`);
    return rows.map((r) => r.line);
  } finally {
    await c.end();
  }
}

/** A new database migrated only as far as the release before projects. */
async function databaseOfPreviousRelease(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `nagaya_prev_${randomBytes(4).toString('hex')}`;
  const maintenance = withDatabase(testDatabaseUrl(), 'postgres');
  const run = async (sql: string) => {
    const c = new pg.Client({ connectionString: maintenance });
    await c.connect();
    await c.query(sql);
    await c.end();
  };
  await run(`CREATE DATABASE ${name}`);
  const url = withDatabase(testDatabaseUrl(), name);
  const source = new DataSource({
    type: 'postgres',
    url,
    migrations: migrations.slice(0, PROJECTS),
    migrationsTableName: 'nagaya_migrations',
    logging: false,
  });
  await source.initialize();
  await source.runMigrations({ transaction: 'each' });
  await source.destroy();
  return { url, drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function columns(table: string): Promise<string[]> {
  const { rows } = await fleet.db.pool.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY column_name`,
    [table],
  );
  return rows.map((r) => r.column_name);
}

async function constraints(table: string): Promise<string[]> {
  const { rows } = await fleet.db.pool.query<{ conname: string }>(
    `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass ORDER BY conname`,
    [table],
  );
  return rows.map((r) => r.conname);
}

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 8 });
  operatorToken = (await fleet.admin.post<{ token: string }>('/tokens', { name: 'old-op', role: 'operator' })).token;
  // an image as the release before projects kept one: a directory of the store (recorded here
  // so that today's create takes it; the downgrade below drops the record with its table)
  const legacy = join(fleet.base.dataDir, 'images', 'legacy');
  mkdirSync(join(legacy, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(legacy, 'bin', 'busybox'));
  await fleet.db.pool.query(`INSERT INTO image (project, name, size_bytes, files, source) VALUES ('default', 'legacy', $1, 1, 'upload')`, [
    readFileSync('/bin/busybox').length,
  ]);
  await fleet.admin.post('/containers', { name: 'survivor', image: 'legacy', command: ['/bin/busybox', 'sleep', '3600'] });
  before = await waitRunning<{ id: string; pid: number; state: string }>(fleet, 'survivor');

  // Stop nagaya (the container outlives it) and take the schema back to the earlier release.
  await fleet.api.close();
  const source = new DataSource({
    type: 'postgres',
    url: fleet.db.url,
    migrations,
    migrationsTableName: 'nagaya_migrations',
    logging: false,
  });
  await source.initialize();
  // every migration from projects on, newest first
  for (let i = migrations.length; i > PROJECTS; i--) await source.undoLastMigration({ transaction: 'each' });
  await source.destroy();
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
});

describe('upgrading an installation to projects', () => {
  it('starts from the schema of the release before projects', async () => {
    expect(await columns('container')).not.toContain('project');
    expect(await constraints('container')).toContain('container_name_key');
    expect(await columns('api_token')).not.toContain('project');
    const { rows } = await fleet.db.pool.query(`SELECT to_regclass('public.project') AS p, to_regclass('public.image') AS i`);
    expect(rows[0]).toEqual({ p: null, i: null });
    const last = await fleet.db.pool.query<{ name: string }>('SELECT name FROM nagaya_migrations ORDER BY id DESC LIMIT 1');
    expect(last.rows[0]!.name).toBe(new migrations[PROJECTS - 1]!().name);
    // the same schema as a database that never went further
    const previous = await databaseOfPreviousRelease();
    try {
      expect(await schemaOf(fleet.db.url)).toEqual(await schemaOf(previous.url));
    } finally {
      await previous.drop();
    }
  });

  it('puts containers, tokens, jobs and images in default, and the running container keeps running', async () => {
    const upgraded = await startNagaya(fleet.base);
    fleet.workers.push(upgraded); // stopped with the fleet
    const api = (token: string) => new ApiClient(upgraded.url!, token);
    const admin = api(ADMIN_TOKEN);

    const after = await admin.get<{ id: string; project: string; pid: number; state: string }>('/containers/survivor');
    expect(after).toMatchObject({ id: before.id, project: 'default', state: 'running', pid: before.pid });
    // the kernel agrees: the same process, still alive
    expect(readFileSync(`/proc/${before.pid}/cmdline`, 'utf8')).toContain('sleep');

    // the operator token is the default project's; the admin token spans every project
    expect(await api(operatorToken).get('/whoami')).toEqual({ name: 'old-op', role: 'operator', project: 'default' });
    expect(await api(ADMIN_TOKEN).get('/whoami')).toMatchObject({ role: 'admin', project: null });
    const exec = await api(operatorToken).post<{ stdout: string; exitCode: number }>('/containers/survivor/exec', {
      command: ['/bin/busybox', 'echo', 'still here'],
    });
    expect(exec).toMatchObject({ exitCode: 0, stdout: 'still here\n' });

    // images of the earlier release are the default project's, on disk where they were
    const { images } = await api(operatorToken).get<{ images: Array<{ project: string; name: string }> }>('/images');
    expect(images.map((i) => `${i.project}/${i.name}`)).toEqual(['default/busybox', 'default/legacy']);
    // the quota counters start from what the project held
    const usage = await admin.get<{ quotas: { containers: { used: number }; diskBytes: { used: number } } }>('/projects/default');
    expect(usage.quotas.containers.used).toBe(1);
    expect(usage.quotas.diskBytes.used).toBeGreaterThan(readFileSync('/bin/busybox').length);
    const { rows: jobs } = await fleet.db.pool.query<{ project: string }>('SELECT DISTINCT project FROM job');
    expect(jobs).toEqual([{ project: 'default' }]);

    // and the installation goes on: the container restarts from its image, a new project works
    const { job } = await api(operatorToken).post<{ job: { id: string } }>('/containers/survivor/restart', { timeoutSeconds: 1 });
    expect((await api(operatorToken).waitForJob(job.id)).state).toBe('completed');
    const restarted = await eventually(async () => {
      const c = await admin.get<{ pid: number; state: string }>('/containers/survivor');
      return c.state === 'running' ? c : undefined;
    });
    expect(restarted.pid).not.toBe(before.pid);
    await admin.post('/projects', { name: 'after-upgrade', quotas: { containers: 1 } });
    const { project } = await admin.post<{ project: string }>('/tokens', { name: 'new-op', role: 'operator', project: 'after-upgrade' });
    expect(project).toBe('after-upgrade');
  });
});
