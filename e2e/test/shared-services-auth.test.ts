import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { testDatabaseUrl, testRedisUrl } from '../../packages/allocator/test/support/test-services';
import { runAsNobody } from '../../packages/native/test/support/as-nobody';

/**
 * The machine's own Postgres (5432) and Redis (6379), as scripts/ensure-services.sh leaves them
 * (services-auth.test.ts shows the script does this on private servers): a local user without
 * the credentials gets nothing, over TCP or the socket; the credentials the tests read work.
 */

describe('the shared Postgres and Redis', () => {
  it('refuse a local user without credentials', () => {
    for (const args of [
      ['-h', '127.0.0.1', '-U', 'postgres'],
      ['-U', 'postgres'],
      ['-h', '127.0.0.1', '-U', 'nagaya'],
      ['-U', 'nagaya'],
    ]) {
      const res = runAsNobody('psql', ['-X', '-w', '-q', '-At', ...args, '-d', 'nagaya', '-c', 'select current_user']);
      expect(res.status, `psql ${args.join(' ')} as nobody: ${res.stdout}`).not.toBe(0);
      expect(res.stderr).toMatch(/no password supplied|Peer authentication failed|password authentication failed/);
    }
    const ping = runAsNobody('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'ping']);
    expect(ping.stdout).toMatch(/NOAUTH/);
    expect(ping.stdout).not.toMatch(/PONG/);
  });

  it('let in whoever has the credentials ensure-services.sh wrote', async () => {
    const db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    const { rows } = await db.query<{ user: string }>('SELECT current_user AS user');
    await db.end();
    expect(rows[0]!.user).toBe('nagaya');
    const redis = new Redis(testRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
  });
});
