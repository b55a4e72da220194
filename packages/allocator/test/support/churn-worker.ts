// One OS process of the concurrency test: random allocate/release against a shared pool.
// argv: databaseUrl pool operations seed prefix; prints one JSON line of counts.
import pg from 'pg';
import { Allocator, AllocatorError } from '../../src';
import { seededRandom } from './seeded-random';

const [databaseUrl, poolName, opsText, seedText, prefix] = process.argv.slice(2) as [string, string, string, string, string];

async function main(): Promise<void> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const allocator = new Allocator(db, { warn: () => undefined });
  const rand = seededRandom(Number(seedText));
  const held: string[] = [];
  const counts = { allocated: 0, released: 0, exhausted: 0, conflicts: 0, replays: 0 };
  const ops = Number(opsText);
  const inFlight = 4; // several concurrent operations per process too
  let next = 0;
  async function lane(): Promise<void> {
    while (next < ops) {
      const op = next++;
      if (held.length > 0 && rand() < 0.45) {
        const owner = held.splice(Math.floor(rand() * held.length), 1)[0]!;
        if (await allocator.release(owner)) counts.released++;
        continue;
      }
      const owner = `${prefix}-${op}`;
      const r = rand();
      const request =
        r < 0.1
          ? { owner, pool: poolName, size: 2 * 65536 }
          : r < 0.2
            ? { owner, pool: poolName, key: `k${Math.floor(rand() * 8)}` }
            : r < 0.25
              ? { owner, pool: poolName, isolated: false }
              : { owner, pool: poolName };
      try {
        const lease = await allocator.allocate(request);
        if (!lease.created) counts.replays++;
        counts.allocated++;
        if (rand() < 0.05) {
          const again = await allocator.allocate(request);
          if (again.uidBase !== lease.uidBase) throw new Error('replay moved the lease');
          counts.replays++;
        }
        // only now may another lane of this process pick it for release
        held.push(owner);
      } catch (err) {
        if (err instanceof AllocatorError && err.code === 'POOL_EXHAUSTED') counts.exhausted++;
        else if (err instanceof AllocatorError && err.code === 'CONFLICT') counts.conflicts++;
        else throw err;
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane));
  await db.end();
  console.log(JSON.stringify({ ...counts, held: held.length }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
