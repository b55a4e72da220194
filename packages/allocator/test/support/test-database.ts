import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runMigrations } from '@nagaya/migrations';
import { testDatabaseUrl, withDatabase } from './test-services';

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
  const url = withDatabase(testDatabaseUrl(), name);
  await runMigrations(url);
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  // pool.end() resolves before its clients have finished closing, so DROP ... WITH (FORCE) can
  // still terminate one (57P01); with no listener pg throws that from the socket as an uncaught
  // exception, which fails the whole run although every test passed.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return {
    url,
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
  return withDatabase(testDatabaseUrl(), 'postgres');
}
