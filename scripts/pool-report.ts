// Makes the default pool from /etc/subuid and /etc/subgid (or LXD's fallback) and prints it.
import pg from 'pg';
import { Allocator, ensureSystemPool } from '@nagaya/allocator';
import { databaseUrlOf } from '../packages/server/src/deploy/service-urls';

async function main(): Promise<void> {
  const db = new pg.Pool({ connectionString: databaseUrlOf(process.env), max: 2 });
  try {
    const allocator = new Allocator(db);
    const { pool, created, sync } = await ensureSystemPool(allocator, {
      user: process.env.NAGAYA_SUBID_USER ?? 'root',
      name: process.env.NAGAYA_POOL ?? 'default',
      // the same files `nagaya serve` reads, or the report would resync the pool from others
      subuidPath: process.env.NAGAYA_SUBUID_PATH ?? '/etc/subuid',
      subgidPath: process.env.NAGAYA_SUBGID_PATH ?? '/etc/subgid',
    });
    const stats = await allocator.stats(pool.name);
    const fmt = (rs: { start: number; end: number }[]) => rs.map((r) => `${r.start}+${r.end - r.start}`).join(', ');
    console.log(`pool ${pool.name} ${created ? 'created' : 'up to date'} (from ${pool.source})`);
    console.log(`  uids ${fmt(pool.uidRanges)}  gids ${fmt(pool.gidRanges)}  slice ${pool.sliceSize}`);
    console.log(
      `  slices: ${stats.total} total, ${stats.active} active, ${stats.quarantined} quarantined, ` +
        `${stats.keyed} keyed, ${stats.outOfPool} out of pool, ${stats.free} free`,
    );
    if (sync && (sync.added || sync.removed || sync.outOfPool)) console.log(`  re-read: ${JSON.stringify(sync)}`);
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
