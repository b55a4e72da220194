import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runMigrations } from '@nagaya/migrations';

/** Where tests may create throwaway databases (the server must let this user CREATE DATABASE). */
export const TEST_DATABASE_URL =
  process.env.NAGAYA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/nagaya_test';

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** Creates a fresh, migrated database of its own for one test file, and a way to drop it. */
export async function createTestDatabase(prefix = 'nagaya_t'): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: maintenanceUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  await runMigrations(url.toString());
  const pool = new pg.Pool({ connectionString: url.toString(), max: 20 });
  // pool.end() resolves before its clients have finished closing, so DROP ... WITH (FORCE) can
  // still terminate one (57P01); with no listener pg throws that from the socket as an uncaught
  // exception, which fails the whole run although every test passed.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return {
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: maintenanceUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** The same server's `postgres` database: CREATE/DROP DATABASE must run outside the one it names. */
function maintenanceUrl(): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = '/postgres';
  return url.toString();
}
