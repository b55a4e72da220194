import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Allocator } from '@nagaya/allocator';
import { createTestDatabase, type TestDatabase } from '../../packages/allocator/test/support/test-database';
import { OVERLAP_SQL } from '../support/invariants';
import { randomUidStart, SLICE } from '../support/system';

/**
 * Random allocate/release from 4 OS processes against one pool, each with several operations in
 * flight (packages/allocator/test/support/churn-worker.ts); while they run and at the end, one SQL
 * self-join must find no two active slices sharing a host uid or gid.
 * CI: 4 x 2,500 operations; NAGAYA_FAULT_SCALE=full: 4 x 25,000 = 100,000.
 */

const run = promisify(execFile);
const PROCESSES = 4;
const FULL = process.env.NAGAYA_FAULT_SCALE === 'full';
const OPS_PER_PROCESS = FULL ? 25_000 : 2_500;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('nagaya_e2e_churn');
});
afterAll(async () => {
  await db?.drop();
});

describe('allocation under concurrency', () => {
  it(
    `${PROCESSES} processes x ${OPS_PER_PROCESS} random allocate/release: 0 overlapping active slices`,
    async () => {
      const allocator = new Allocator(db.pool, { warn: () => undefined });
      // small enough to run dry often (exhaustion and reuse races), quarantine 0 so slots recycle at once
      const start = await randomUidStart();
      await allocator.createPool({
        name: 'churn',
        uidRanges: [{ start, end: start + 64 * SLICE }],
        gidRanges: [{ start, end: start + 64 * SLICE }],
        quarantineSeconds: 0,
      });

      const worker = resolve(__dirname, '../../packages/allocator/test/support/churn-worker.ts');
      const began = Date.now();
      let done = false;
      let samples = 0;
      let worst = 0;
      const sampler = (async () => {
        while (!done) {
          worst = Math.max(worst, (await db.pool.query<{ n: number }>(OVERLAP_SQL)).rows[0]!.n);
          samples++;
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      const results = await Promise.all(
        Array.from({ length: PROCESSES }, (_, i) =>
          run(process.execPath, ['--import', 'tsx', worker, db.url, 'churn', String(OPS_PER_PROCESS), String(7000 + i), `e${i}`], {
            maxBuffer: 1 << 20,
          }),
        ),
      ).finally(() => (done = true));
      await sampler;
      const seconds = (Date.now() - began) / 1000;
      const counts = results.map((r) => JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>);
      const total = (k: string) => counts.reduce((sum, c) => sum + c[k]!, 0);

      expect(worst).toBe(0);
      expect((await db.pool.query<{ n: number }>(OVERLAP_SQL)).rows[0]!.n).toBe(0);
      expect(total('allocated')).toBeGreaterThan(OPS_PER_PROCESS);
      expect(total('released')).toBeGreaterThan(OPS_PER_PROCESS / 2);
      expect(total('exhausted')).toBeGreaterThan(0);
      // every lease has its slice and no slice outlives its lease
      const { rows } = await db.pool.query<{ orphans: number; leases: number }>(
        `SELECT (SELECT count(*)::int FROM id_slice s WHERE s.state = 'active' AND s.owner IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM id_lease l WHERE l.owner = s.owner)) AS orphans,
              (SELECT count(*)::int FROM id_lease) AS leases`,
      );
      expect(rows[0]!.orphans).toBe(0);
      expect(rows[0]!.leases).toBe(total('held'));
      console.log(
        `[fault-concurrency] ${PROCESSES * OPS_PER_PROCESS} operations from ${PROCESSES} processes in ${seconds.toFixed(1)} s ` +
          `(${Math.round((PROCESSES * OPS_PER_PROCESS) / seconds)} ops/s): allocated ${total('allocated')}, released ${total('released')}, ` +
          `exhausted ${total('exhausted')}, conflicts ${total('conflicts')}; overlap checked ${samples} times while running and once after: 0`,
      );
    },
    FULL ? 1_800_000 : 300_000,
  );
});
