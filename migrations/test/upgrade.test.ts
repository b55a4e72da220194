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

async function pickSlotsFunction(databaseUrl: string): Promise<Array<{ proconfig: string[] | null; body: string }>> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ proconfig: string[] | null; body: string }>(
      `SELECT proconfig, prosrc AS body FROM pg_proc WHERE proname = 'nagaya_pick_slots'`,
    );
    return rows;
  } finally {
    await c.end();
  }
}

describe('migrating a database set up before nagaya_pick_slots waited for locked slots', () => {
  it('re-creates the function: the first shipped body is replaced', async () => {
    await adminQuery(`CREATE DATABASE ${name}`);
    // the state an earlier release left: the first two migrations applied
    const early = new DataSource({
      type: 'postgres',
      url: url.toString(),
      migrations: migrations.slice(0, 2),
      migrationsTableName: 'nagaya_migrations',
      logging: false,
    });
    await early.initialize();
    await early.runMigrations({ transaction: 'each' });
    await early.destroy();
    // the first migration still creates what it created when it shipped: no lock timeout, no wait
    const before = await pickSlotsFunction(url.toString());
    expect(before).toHaveLength(1);
    expect(before[0]!.proconfig).toBeNull();
    expect(before[0]!.body).not.toContain('FOR v_pass IN 1..8 LOOP');

    // every migration after the first two, in order (later ones add to the list)
    expect(await runMigrations(url.toString())).toEqual(migrations.slice(2).map((m) => new m().name));
    expect(migrations.slice(2).map((m) => new m().name)[0]).toBe('PickSlotsWaits1764600000000');
    const after = await pickSlotsFunction(url.toString());
    expect(after).toHaveLength(1);
    expect(after[0]!.proconfig).toEqual(['lock_timeout=2s']);
    expect(after[0]!.body).toContain('FOR v_pass IN 1..8 LOOP');
    expect(after[0]!.body).toContain('LIMIT 1 FOR UPDATE;');
  });
});
