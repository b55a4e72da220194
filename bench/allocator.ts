// `npm run bench:allocator`: throughput and latency of the ID allocator against a real Postgres,
// and the same allocation done the way LXD does it (load every lease, sort, first fit, insert,
// under a lock). Prints a table, then one JSON line. Uses a throwaway database it drops at the end.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Allocator, buildIdMaps, type RawIdmapEntry } from '../packages/allocator/src';
import { runMigrations } from '../migrations/src';
import { testDatabaseUrl, withDatabase } from '../packages/allocator/test/support/test-services';
import { quantile, withAdmin } from './bench-support';

const S = 65536;
const POOL_SLOTS = 15_000;
const POOL_START = 1_000_000;
const THROUGHPUT_ALLOCS = Number(process.env.BENCH_ALLOCS ?? 3000);
const LATENCY_SAMPLES = Number(process.env.BENCH_SAMPLES ?? 1000);

/** Releases every lease and puts the inventory back to never-used, so each phase starts alike. */
async function reset(db: pg.Pool): Promise<void> {
  await db.query(`TRUNCATE id_lease, id_slice, id_key`);
  await db.query(`UPDATE id_slot SET state = 'free', released_at = NULL`);
  await db.query('VACUUM ANALYZE id_slot');
}

/** Fills the pool to `count` live slices as fast as it can (16 lanes). */
async function fill(allocator: Allocator, count: number, prefix: string): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        await allocator.allocate({ owner: `${prefix}-${i}`, pool: 'bench' });
      }
    }),
  );
}

async function throughput(url: string, clients: number): Promise<number> {
  const db = new pg.Pool({ connectionString: url, max: clients });
  const allocator = new Allocator(db);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < THROUGHPUT_ALLOCS) {
        const i = next++;
        await allocator.allocate({ owner: `tp${clients}-${i}`, pool: 'bench' });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await db.end();
  return THROUGHPUT_ALLOCS / seconds;
}

/** Latency of one allocation at a fill level; each sample is released again so the level holds. */
async function latencyAt(db: pg.Pool, allocator: Allocator, live: number): Promise<{ p50: number; p99: number; mean: number }> {
  await reset(db);
  await fill(allocator, live, `fill${live}`);
  await settle(db, allocator, `warm${live}`);
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const owner = `lat${live}-${i}`;
    const t = performance.now();
    await allocator.allocate({ owner, pool: 'bench' });
    samples.push(performance.now() - t);
    await allocator.release(owner);
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

/**
 * What autovacuum does shortly after a burst (VACUUM ANALYZE), then a few unmeasured calls so
 * every pooled connection has its plpgsql plans cached: a measurement of steady state, not of
 * the first call after a fill.
 */
async function settle(db: pg.Pool, allocator: Allocator, prefix: string): Promise<void> {
  await db.query('VACUUM ANALYZE id_slot, id_slice, id_lease');
  for (let i = 0; i < 20; i++) {
    await allocator.allocate({ owner: `${prefix}-${i}`, pool: 'bench' });
    await allocator.release(`${prefix}-${i}`);
  }
}

/** LXD's findIdmap, transplanted: load every lease, sort, first fit, insert, all under one lock. */
async function lxdStyleAt(db: pg.Pool, allocator: Allocator, live: number): Promise<{ p50: number; mean: number }> {
  await reset(db);
  await fill(allocator, live, `lxd${live}`);
  await settle(db, allocator, `lxdwarm${live}`);
  const { rows } = await db.query<{ id: number }>(`SELECT id FROM id_pool WHERE name = 'bench'`);
  const poolId = rows[0]!.id;
  let lock = Promise.resolve();
  const samples: number[] = [];
  const n = Math.max(20, Math.floor(LATENCY_SAMPLES / 10));
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const previous = lock;
    let unlock!: () => void;
    lock = new Promise((r) => (unlock = r));
    await previous;
    try {
      // LXD loads every instance and unmarshals each one's idmap JSON (volatile.idmap.current);
      // here: every lease, with its map built from its row, as nagaya would show it.
      const leases = await db.query<{ uid_base: string; gid_base: string; size: string; raw: RawIdmapEntry[] }>(
        `SELECT uid_base, gid_base, size, raw FROM id_lease`,
      );
      const taken = leases.rows
        .flatMap((r) => buildIdMaps({ uidBase: Number(r.uid_base), gidBase: Number(r.gid_base), size: Number(r.size) }, r.raw).uid)
        .map((line) => ({ start: line.hostId, end: line.hostId + line.count }))
        .sort((a, b) => a.start - b.start);
      let candidate = POOL_START;
      for (const r of taken) {
        if (candidate + S <= r.start) break;
        candidate = Math.max(candidate, r.end);
      }
      const slot = (candidate - POOL_START) / S;
      await db.query(
        `INSERT INTO id_slice (pool_id, owner, kind, slot, slots, uid_range, gid_range)
         VALUES ($1, $2, 'isolated', $3, 1, int8range($4, $5), int8range($4, $5))`,
        [poolId, `lxd-extra-${live}-${i}`, slot, candidate, candidate + S],
      );
    } finally {
      unlock();
    }
    samples.push(performance.now() - t);
    await db.query(`DELETE FROM id_slice WHERE owner = $1`, [`lxd-extra-${live}-${i}`]);
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

async function main(): Promise<void> {
  const name = `nagaya_bench_${randomBytes(4).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(testDatabaseUrl(), name);
  try {
    await runMigrations(url);
    const db = new pg.Pool({ connectionString: url, max: 16 });
    const allocator = new Allocator(db, { warn: () => undefined });
    const end = POOL_START + POOL_SLOTS * S;
    await allocator.createPool({
      name: 'bench',
      uidRanges: [{ start: POOL_START, end }],
      gidRanges: [{ start: POOL_START, end }],
      quarantineSeconds: 0,
    });

    const rows: Array<[string, string]> = [];
    const tp: Record<number, number> = {};
    for (const clients of [1, 4, 16]) {
      await reset(db);
      tp[clients] = await throughput(url, clients);
      rows.push([`allocations/s, ${clients} client(s)`, tp[clients]!.toFixed(0)]);
    }
    const lat: Record<string, { p50: number; p99: number; mean: number }> = {};
    for (const [label, fraction] of [
      ['1%', 0.01],
      ['50%', 0.5],
      ['95%', 0.95],
    ] as const) {
      lat[label] = await latencyAt(db, allocator, Math.floor(POOL_SLOTS * fraction));
      rows.push([`latency at ${label} full (15,000 slots), p50 / p99 ms`, `${lat[label]!.p50.toFixed(3)} / ${lat[label]!.p99.toFixed(3)}`]);
    }
    // Ratios use medians: on a 2-core machine a stray autovacuum or checkpoint moves a mean more
    // than it says about either algorithm. Means are printed too.
    const ours: Record<number, { p50: number; mean: number }> = {};
    const lxd: Record<number, { p50: number; mean: number }> = {};
    for (const live of [1000, 10000]) {
      ours[live] = await latencyAt(db, allocator, live);
      lxd[live] = await lxdStyleAt(db, allocator, live);
      rows.push([`${live} live slices: nagaya / LXD-style p50 ms`, `${ours[live]!.p50.toFixed(3)} / ${lxd[live]!.p50.toFixed(3)}`]);
      rows.push([`${live} live slices: nagaya / LXD-style mean ms`, `${ours[live]!.mean.toFixed(3)} / ${lxd[live]!.mean.toFixed(3)}`]);
    }
    await db.end();

    const width = Math.max(...rows.map((r) => r[0].length));
    console.log(`${'measure'.padEnd(width)}  value`);
    console.log(`${'-'.repeat(width)}  -----`);
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    const result = {
      bench: 'allocator',
      allocs_per_s_1: Math.round(tp[1]!),
      allocs_per_s_4: Math.round(tp[4]!),
      allocs_per_s_16: Math.round(tp[16]!),
      p50_ms_fill1: round(lat['1%']!.p50),
      p99_ms_fill1: round(lat['1%']!.p99),
      p99_ms_fill50: round(lat['50%']!.p99),
      p99_ms_fill95: round(lat['95%']!.p99),
      p99_ratio_95_over_1: round(lat['95%']!.p99 / lat['1%']!.p99),
      lxd_ms_p50_10k: round(lxd[10000]!.p50),
      ours_ms_p50_10k: round(ours[10000]!.p50),
      scan_ratio_1k: round(lxd[1000]!.p50 / ours[1000]!.p50),
      scan_ratio_10k_mean: round(lxd[10000]!.mean / ours[10000]!.mean),
      scan_ratio_10k: round(lxd[10000]!.p50 / ours[10000]!.p50),
    };
    console.log(JSON.stringify(result));
  } finally {
    await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
