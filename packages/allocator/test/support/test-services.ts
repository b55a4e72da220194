// The shared Postgres and Redis every test and bench uses, with the credentials
// scripts/ensure-services.sh made for them: read from the files it wrote under the data directory
// (NAGAYA_DATA_DIR, default /var/lib/nagaya), by the same code the server reads them with.
// NAGAYA_TEST_DATABASE_URL / NAGAYA_TEST_REDIS_URL point the tests elsewhere.
import { dataDirOf, readServiceUrlFile } from '../../../server/src/deploy/service-urls';

function fromEnsureServices(service: 'database' | 'redis'): string {
  try {
    return readServiceUrlFile(dataDirOf(process.env), service);
  } catch (err) {
    throw new Error(
      `tests need the shared Postgres and Redis with the credentials scripts/ensure-services.sh makes: ${(err as Error).message} ` +
        '(for tests: NAGAYA_TEST_DATABASE_URL and NAGAYA_TEST_REDIS_URL)',
    );
  }
}

/** Where tests create throwaway databases: the `nagaya_test` database of the role ensure-services made (it may CREATE DATABASE). */
export function testDatabaseUrl(): string {
  if (process.env.NAGAYA_TEST_DATABASE_URL) return process.env.NAGAYA_TEST_DATABASE_URL;
  const url = new URL(fromEnsureServices('database'));
  url.pathname = '/nagaya_test';
  return url.toString();
}

/** The shared Redis (tests keep apart by queue prefix). */
export function testRedisUrl(): string {
  return process.env.NAGAYA_TEST_REDIS_URL || fromEnsureServices('redis');
}

/** The same server as `url`, database `name`. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}
