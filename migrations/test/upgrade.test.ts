import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { migrations, runMigrations } from '../src';
import { testDatabaseUrl, withDatabase } from '../../packages/allocator/test/support/test-services';

// A database migrated by an earlier release must end up with the same schema as a new one.

const name = `nagaya_upgrade_${randomBytes(4).toString('hex')}`;
const url = new URL(withDatabase(testDatabaseUrl(), name));
const admin = new URL(withDatabase(testDatabaseUrl(), 'postgres'));

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  await c.query(sql);
  await c.end();
}

afterAll(async () => {
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
});

describe('migrating a database set up before nagaya_pick_slots waited for locked slots', () => {
  it('re-creates the function: the old body is replaced', async () => {
    await adminQuery(`CREATE DATABASE ${name}`);
    // the state an earlier release left: the first two migrations applied, the old function body
    const early = new DataSource({ type: 'postgres', url: url.toString(), migrations: migrations.slice(0, 2), migrationsTableName: 'nagaya_migrations', logging: false });
    await early.initialize();
    await early.runMigrations({ transaction: 'each' });
    await early.query(`CREATE OR REPLACE FUNCTION nagaya_pick_slots(p_pool int4, p_n int4, p_cutoff timestamptz) RETURNS int4
      LANGUAGE plpgsql AS $fn$ BEGIN RAISE EXCEPTION 'old body' USING ERRCODE = 'NG003'; END $fn$`);
    await early.destroy();

    // every migration after the first two, in order (later ones add to the list)
    expect(await runMigrations(url.toString())).toEqual(migrations.slice(2).map((m) => new m().name));
    expect(migrations.slice(2).map((m) => new m().name)[0]).toBe('PickSlotsWaits1764600000000');
    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    try {
      const { rows } = await c.query<{ proconfig: string[] | null; body: string }>(
        `SELECT proconfig, prosrc AS body FROM pg_proc WHERE proname = 'nagaya_pick_slots'`);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.proconfig).toEqual(['lock_timeout=2s']);
      expect(rows[0]!.body).toContain('LIMIT 1 FOR UPDATE;');
      expect(rows[0]!.body).not.toContain('old body');
    } finally {
      await c.end();
    }
  });
});
