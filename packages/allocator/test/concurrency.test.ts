import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Allocator } from '@nagaya/allocator';
import { createTestDatabase, type TestDatabase } from './support/test-database';

const run = promisify(execFile);
const PROCESSES = 4;
const OPS_PER_PROCESS = Number(process.env.NAGAYA_CHURN_OPS ?? 1500);
const S = 65536;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('concurrent allocation from several OS processes', () => {
  it(`${PROCESSES} processes x ${OPS_PER_PROCESS} random allocate/release: no two active slices overlap`, async () => {
    const allocator = new Allocator(db.pool);
    // small enough that the pool runs dry often, so exhaustion and reuse races happen
    const start = 300_000_000;
    await allocator.createPool({
      name: 'churn',
      uidRanges: [{ start, end: start + 48 * S }],
      gidRanges: [{ start, end: start + 48 * S }],
      quarantineSeconds: 0,
    });

    const worker = resolve(__dirname, 'support/churn-worker.ts');
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, (_, i) =>
        run(process.execPath, ['--import', 'tsx', worker, db.url, 'churn', String(OPS_PER_PROCESS), String(1000 + i), `w${i}`], {
          maxBuffer: 1 << 20,
        }),
      ),
    );
    const counts = results.map((r) => JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>);
    const total = (k: string) => counts.reduce((sum, c) => sum + c[k]!, 0);
    expect(total('allocated')).toBeGreaterThan(OPS_PER_PROCESS);
    expect(total('released')).toBeGreaterThan(OPS_PER_PROCESS / 2);
    expect(total('exhausted')).toBeGreaterThan(0);

    // the one SQL self-join that proves it: no two non-quarantined slices share a host uid or gid
    const { rows } = await db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM id_slice a JOIN id_slice b ON a.id < b.id
        WHERE a.state <> 'quarantined' AND b.state <> 'quarantined'
          AND (a.uid_range && b.uid_range OR a.gid_range && b.gid_range)`,
    );
    expect(Number(rows[0]!.n)).toBe(0);

    // the inventory agrees with the leases: every leased slot belongs to exactly one live isolated lease
    const { rows: check } = await db.pool.query<Record<string, string>>(
      `SELECT (SELECT count(*) FROM id_slot WHERE state = 'leased') AS leased,
              (SELECT coalesce(sum(slots), 0) FROM id_lease WHERE isolated) AS lease_slots,
              (SELECT count(*) FROM id_lease) AS leases,
              (SELECT count(*) FROM id_lease WHERE isolated) AS isolated_leases,
              (SELECT count(*) FROM id_slice WHERE kind = 'isolated' AND state = 'active') AS active_slices`,
    );
    expect(Number(check[0]!.leased)).toBe(Number(check[0]!.lease_slots));
    expect(Number(check[0]!.leases)).toBe(total('held'));
    expect(Number(check[0]!.active_slices)).toBe(Number(check[0]!.isolated_leases));
    const { rows: orphans } = await db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM id_slice s WHERE s.state = 'active' AND s.kind = 'isolated'
          AND NOT EXISTS (SELECT 1 FROM id_lease l WHERE l.owner = s.owner)`,
    );
    expect(Number(orphans[0]!.n)).toBe(0);
  });
});
