import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db } from '../src/store/db';
import { TokenStore } from '../src/store/token-store';
import { createTestDatabase, type TestDatabase } from '../../allocator/test/support/test-database';

// The API and worker processes of a fresh install start at the same moment with the same
// environment (docker compose up): storing the configured admin token, or making the first one,
// must come out the same however the processes interleave.

let testDb: TestDatabase;
let db: Db;
beforeAll(async () => {
  testDb = await createTestDatabase('nagaya_tokens');
  db = new Db(testDb.url, 16);
});
afterAll(async () => {
  await db?.close();
  await testDb?.drop();
});

describe('admin token bootstrap', () => {
  it('stores a configured admin token once when eight processes store it at once', async () => {
    const stores = Array.from({ length: 8 }, () => new TokenStore(db));
    const identities = await Promise.all(stores.map((s) => s.ensure('admin', 'admin', 'the-configured-token-0123456789')));
    expect(new Set(identities.map((i) => i.id)).size).toBe(1);
    const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM api_token`);
    expect(Number(rows[0]!.n)).toBe(1);
    expect((await stores[0]!.authenticate('the-configured-token-0123456789')).role).toBe('admin');
  });

  it('makes one first admin token between eight processes that find none', async () => {
    await db.query('DELETE FROM api_token');
    const made = await Promise.all(Array.from({ length: 8 }, () => new TokenStore(db).createFirstAdmin()));
    const tokens = made.filter((t): t is string => t !== undefined);
    expect(tokens).toHaveLength(1);
    expect((await new TokenStore(db).authenticate(tokens[0]!)).role).toBe('admin');
    expect(await new TokenStore(db).createFirstAdmin()).toBeUndefined();
  });
});
