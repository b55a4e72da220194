import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Allocator, AllocatorError, type IdRange } from '@nagaya/allocator';
import { createTestDatabase, type TestDatabase } from './support/test-database';

const S = 65536;
let db: TestDatabase;
let allocator: Allocator;
const warnings: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  allocator = new Allocator(db.pool, { warn: (m) => warnings.push(m) });
});
afterAll(async () => {
  await db?.drop();
});

/** Pools in this file use disjoint host ranges, one block of 2^24 IDs per pool number. */
function block(n: number, slices: number): IdRange[] {
  const start = 100_000_000 + n * 16_777_216;
  return [{ start, end: start + slices * S }];
}

async function pool(n: number, slices: number, extra: Partial<Parameters<Allocator['createPool']>[0]> = {}) {
  return allocator.createPool({ name: `p${n}`, uidRanges: block(n, slices), gidRanges: block(n, slices), quarantineSeconds: 0, ...extra });
}

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(AllocatorError);
  expect((err as AllocatorError).code).toBe(code);
  if (message) expect((err as AllocatorError).message).toMatch(message);
}

/** The SQL self-join: any two non-quarantined slices sharing a host uid or gid. */
async function overlappingPairs(): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM id_slice a JOIN id_slice b ON a.id < b.id
      WHERE a.state <> 'quarantined' AND b.state <> 'quarantined'
        AND (a.uid_range && b.uid_range OR a.gid_range && b.gid_range)`,
  );
  return Number(rows[0]!.n);
}

describe('pools', () => {
  it('creates a pool whose slots cover exactly its ranges', async () => {
    const p = await pool(1, 4);
    expect(p.uidRanges).toEqual(block(1, 4));
    const stats = await allocator.stats('p1');
    expect(stats).toMatchObject({ total: 4, free: 4, active: 0 });
  });

  it('refuses a duplicate name, an overlapping pool, and a pool smaller than a slice', async () => {
    await expectCode(pool(1, 4), 'CONFLICT', /already exists/);
    await expectCode(allocator.createPool({ name: 'overlap', uidRanges: block(1, 1), gidRanges: block(50, 1) }), 'CONFLICT', /overlaps/);
    await expectCode(
      allocator.createPool({ name: 'tiny', uidRanges: [{ start: 90_000_000, end: 90_000_000 + S - 1 }], gidRanges: block(51, 1) }),
      'INVALID_INPUT',
      /smaller than one slice/,
    );
    await expectCode(allocator.createPool({ name: 'Bad Name', uidRanges: block(52, 1), gidRanges: block(52, 1) }), 'INVALID_INPUT');
    await expectCode(
      allocator.createPool({ name: 'zero', uidRanges: [{ start: 0, end: S }], gidRanges: block(53, 1) }),
      'INVALID_INPUT',
      /host ID 0/,
    );
  });

  it('uses the last slot of a pool that ends at 2^32-1', async () => {
    const start = 4294967295 - 2 * S;
    await allocator.createPool({
      name: 'top',
      uidRanges: [{ start, end: 4294967295 }],
      gidRanges: [{ start, end: 4294967295 }],
      quarantineSeconds: 0,
    });
    const a = await allocator.allocate({ owner: 'top-a', pool: 'top' });
    const b = await allocator.allocate({ owner: 'top-b', pool: 'top' });
    expect([a.uidBase, b.uidBase].sort()).toEqual([start, start + S]);
    expect(Math.max(a.uidBase, b.uidBase) + S - 1).toBe(4294967294);
    await expectCode(allocator.allocate({ owner: 'top-c', pool: 'top' }), 'POOL_EXHAUSTED');
  });
});

describe('allocate and release', () => {
  it('gives disjoint slices with uid and gid bases moving together, then POOL_EXHAUSTED, taking nothing', async () => {
    await pool(2, 3);
    const leases = [];
    for (const owner of ['a', 'b', 'c']) leases.push(await allocator.allocate({ owner: `p2-${owner}`, pool: 'p2' }));
    const bases = leases.map((l) => l.uidBase).sort((x, y) => x - y);
    const start = block(2, 1)[0]!.start;
    expect(bases).toEqual([start, start + S, start + 2 * S]);
    for (const l of leases) {
      expect(l.gidBase - start).toBe(l.uidBase - start);
      expect(l.maps.uid).toEqual([{ nsId: 0, hostId: l.uidBase, count: S }]);
    }
    await expectCode(allocator.allocate({ owner: 'p2-d', pool: 'p2' }), 'POOL_EXHAUSTED');
    expect(await allocator.find('p2-d')).toBeUndefined();
    expect(await overlappingPairs()).toBe(0);
  });

  it('is idempotent per owner, and refuses the same owner with other options', async () => {
    await pool(3, 4);
    const first = await allocator.allocate({ owner: 'p3-a', pool: 'p3' });
    const again = await allocator.allocate({ owner: 'p3-a', pool: 'p3' });
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.uidBase).toBe(first.uidBase);
    await expectCode(allocator.allocate({ owner: 'p3-a', pool: 'p3', size: 2 * S }), 'CONFLICT');
    expect((await allocator.stats('p3')).active).toBe(1);
  });

  it('quarantines released slices and hands out never-used slots first, then least recently released', async () => {
    await pool(4, 4);
    const a = await allocator.allocate({ owner: 'p4-a', pool: 'p4' });
    const b = await allocator.allocate({ owner: 'p4-b', pool: 'p4' });
    expect(await allocator.release('p4-b')).toBe(true);
    expect(await allocator.release('p4-b')).toBe(false);
    expect(await allocator.release('p4-a')).toBe(true);
    const history = await allocator.list({ pool: 'p4', includeQuarantined: true });
    expect(
      history
        .filter((x) => x.state === 'quarantined')
        .map((x) => x.owner)
        .sort(),
    ).toEqual(['p4-a', 'p4-b']);
    const c = await allocator.allocate({ owner: 'p4-c', pool: 'p4' });
    const d = await allocator.allocate({ owner: 'p4-d', pool: 'p4' });
    const start = block(4, 1)[0]!.start;
    expect([c.uidBase, d.uidBase]).toEqual([start + 2 * S, start + 3 * S]); // never used
    const e = await allocator.allocate({ owner: 'p4-e', pool: 'p4' });
    expect(e.uidBase).toBe(b.uidBase); // b was released before a
    const f = await allocator.allocate({ owner: 'p4-f', pool: 'p4' });
    expect(f.uidBase).toBe(a.uidBase);
    // the quarantined history of a reused slot is gone, the rest stays
    expect((await allocator.list({ pool: 'p4', includeQuarantined: true })).filter((x) => x.state === 'quarantined')).toHaveLength(0);
  });

  it('holds released slices back for the cooldown', async () => {
    await pool(5, 2, { quarantineSeconds: 3600 });
    await allocator.allocate({ owner: 'p5-a', pool: 'p5' });
    await allocator.allocate({ owner: 'p5-b', pool: 'p5' });
    await allocator.release('p5-a');
    expect(await allocator.stats('p5')).toMatchObject({ total: 2, active: 1, quarantined: 1, free: 0 });
    await expectCode(allocator.allocate({ owner: 'p5-c', pool: 'p5' }), 'POOL_EXHAUSTED');
  });

  it('gives a contiguous multi-slice size', async () => {
    await pool(6, 6);
    await allocator.allocate({ owner: 'p6-a', pool: 'p6' });
    const big = await allocator.allocate({ owner: 'p6-big', pool: 'p6', size: 3 * S });
    expect(big.size).toBe(3 * S);
    expect(big.maps.uid).toEqual([{ nsId: 0, hostId: big.uidBase, count: 3 * S }]);
    expect((await allocator.stats('p6')).active).toBe(4);
    await expectCode(allocator.allocate({ owner: 'p6-c', pool: 'p6', size: 3 * S }), 'POOL_EXHAUSTED');
    await expectCode(allocator.allocate({ owner: 'p6-d', pool: 'p6', size: S + 1 }), 'INVALID_INPUT', /multiple of 65536/);
    await expectCode(allocator.allocate({ owner: 'p6-e', pool: 'p6', size: 0 }), 'INVALID_INPUT');
    expect(await overlappingPairs()).toBe(0);
  });

  it('waits for a slot that a concurrent transaction holds locked, instead of failing on contention', async () => {
    const { id } = await pool(15, 1);
    const holder = await db.pool.connect();
    const settled = (p: Promise<unknown>) =>
      Promise.race([
        p.then(
          () => 'settled',
          () => 'settled',
        ),
        new Promise((r) => setTimeout(() => r('pending'), 1500)),
      ]);
    try {
      // a concurrent allocation in the middle of its transaction: the only free slot is row-locked
      await holder.query('BEGIN');
      await holder.query(`SELECT * FROM nagaya_allocate($1, 'p15-holder', true, 1, NULL)`, [id]);
      const waiter = allocator.allocate({ owner: 'p15-waiter', pool: 'p15' });
      expect(await settled(waiter)).toBe('pending');
      await holder.query('ROLLBACK'); // the holder gave up: the slot goes to the waiter
      expect((await waiter).slot).toBe(0);

      await allocator.release('p15-waiter');
      await holder.query('BEGIN');
      await holder.query(`SELECT * FROM nagaya_allocate($1, 'p15-holder', true, 1, NULL)`, [id]);
      const late = allocator.allocate({ owner: 'p15-late', pool: 'p15' });
      expect(await settled(late)).toBe('pending');
      await holder.query('COMMIT'); // the holder took it: the pool is full, which is the answer
      await expectCode(late, 'POOL_EXHAUSTED');
    } finally {
      holder.release();
    }
  });

  it('reports NOT_FOUND for an unknown pool or owner', async () => {
    await expectCode(allocator.allocate({ owner: 'x', pool: 'nope' }), 'NOT_FOUND');
    await expectCode(allocator.get('nobody'), 'NOT_FOUND');
    await expectCode(allocator.allocate({ owner: '', pool: 'p1' }), 'INVALID_INPUT');
  });
});

describe('fencing', () => {
  it('keeps a fenced slice out of every allocation, even once its owner is released, until the fence is lifted', async () => {
    await pool(40, 4);
    const lost = await allocator.allocate({ owner: 'p40-lost', pool: 'p40' });
    const other = await allocator.allocate({ owner: 'p40-other', pool: 'p40' });
    expect(await allocator.fence('p40-lost', 'dead-node')).toBe(true);
    expect(await allocator.fence('p40-nobody', 'dead-node')).toBe(false);
    expect(await allocator.fenced()).toEqual([{ owner: 'p40-lost', node: 'dead-node' }]);
    // the container is deleted: its release is refused, the lease and its IDs stay taken
    expect(await allocator.release('p40-lost')).toBe(false);
    expect(await allocator.find('p40-lost')).toMatchObject({ uidBase: lost.uidBase });
    expect((await allocator.owners()).map((o) => o.owner)).not.toContain('p40-lost'); // no orphan to sweep
    const rest = [];
    for (const owner of ['x', 'y']) rest.push(await allocator.allocate({ owner: `p40-${owner}`, pool: 'p40' }));
    await expectCode(allocator.allocate({ owner: 'p40-z', pool: 'p40' }), 'POOL_EXHAUSTED');
    expect(rest.map((l) => l.uidBase)).not.toContain(lost.uidBase);
    // another node's fences are not this one's
    expect(await allocator.unfence('other-node')).toEqual([]);
    expect(await allocator.unfence('dead-node')).toEqual(['p40-lost']);
    expect(await allocator.find('p40-lost')).toBeUndefined();
    expect(await allocator.fenced()).toEqual([]);
    // quarantine 0: free again at once, and the one slot left
    expect((await allocator.allocate({ owner: 'p40-z', pool: 'p40' })).uidBase).toBe(lost.uidBase);
    expect(await allocator.release(other.owner)).toBe(true);
    expect(await overlappingPairs()).toBe(0);
  });
});

describe('shared (non-isolated) map', () => {
  it('gives every non-isolated owner the one shared slice, which never overlaps an isolated one', async () => {
    await pool(7, 3);
    const iso = await allocator.allocate({ owner: 'p7-iso', pool: 'p7' });
    const s1 = await allocator.allocate({ owner: 'p7-s1', pool: 'p7', isolated: false });
    const s2 = await allocator.allocate({ owner: 'p7-s2', pool: 'p7', isolated: false });
    expect(s1.uidBase).toBe(s2.uidBase);
    expect(s1.uidBase).not.toBe(iso.uidBase);
    const iso2 = await allocator.allocate({ owner: 'p7-iso2', pool: 'p7' });
    expect(new Set([iso.uidBase, iso2.uidBase, s1.uidBase]).size).toBe(3);
    await expectCode(allocator.allocate({ owner: 'p7-iso3', pool: 'p7' }), 'POOL_EXHAUSTED');
    const shared = (await allocator.list({ pool: 'p7' })).find((x) => x.kind === 'shared');
    expect(shared?.sharedBy).toEqual(['p7-s1', 'p7-s2']);
    expect(await allocator.stats('p7')).toMatchObject({ shared: 1, active: 2, leases: 4 });
    await expectCode(allocator.allocate({ owner: 'p7-k', pool: 'p7', isolated: false, key: 'k' }), 'INVALID_INPUT');
  });
});

describe('sticky keys', () => {
  it('gives the same slot to the same key after release, and CONFLICT to a second live owner', async () => {
    await pool(8, 4);
    const first = await allocator.allocate({ owner: 'p8-web-1', pool: 'p8', key: 'web' });
    await expectCode(allocator.allocate({ owner: 'p8-web-2', pool: 'p8', key: 'web' }), 'CONFLICT', /held by a live owner/);
    await allocator.release('p8-web-1');
    // others cannot take the reserved slot
    for (const o of ['x', 'y', 'z']) await allocator.allocate({ owner: `p8-${o}`, pool: 'p8' });
    await expectCode(allocator.allocate({ owner: 'p8-w', pool: 'p8' }), 'POOL_EXHAUSTED');
    const again = await allocator.allocate({ owner: 'p8-web-2', pool: 'p8', key: 'web' });
    expect(again.uidBase).toBe(first.uidBase);
    expect(again.gidBase).toBe(first.gidBase);
    await expectCode(allocator.forgetKey('p8', 'web'), 'CONFLICT');
    await allocator.release('p8-web-2');
    expect(await allocator.forgetKey('p8', 'web')).toBe(true);
    expect((await allocator.allocate({ owner: 'p8-w', pool: 'p8' })).uidBase).toBe(first.uidBase);
  });

  it('gives one slot to concurrent first uses of one key', async () => {
    await pool(9, 8);
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => allocator.allocate({ owner: `p9-${i}`, pool: 'p9', key: 'db' })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as AllocatorError).code).toBe('CONFLICT');
    expect((await allocator.stats('p9')).active).toBe(1);
  });
});

describe('raw map entries', () => {
  const allowed = { uid: [{ start: 1000, end: 2000 }], gid: [{ start: 1000, end: 2000 }] };

  it('punches an allowed raw entry into the map and records the host IDs as taken', async () => {
    await pool(10, 4, { rawAllowed: allowed });
    const lease = await allocator.allocate({ owner: 'p10-a', pool: 'p10', raw: [{ kind: 'both', hostId: 1000, nsId: 1000, count: 1 }] });
    expect(lease.maps.uid).toEqual([
      { nsId: 0, hostId: lease.uidBase, count: 1000 },
      { nsId: 1000, hostId: 1000, count: 1 },
      { nsId: 1001, hostId: lease.uidBase + 1001, count: S - 1001 },
    ]);
    expect(lease.maps.gid).toEqual(
      lease.maps.uid.map((l) => ({ ...l, hostId: l.hostId === 1000 ? 1000 : l.hostId - lease.uidBase + lease.gidBase })),
    );
    const raw = (await allocator.list({ pool: 'p10' })).filter((x) => x.kind === 'raw');
    expect(raw).toMatchObject([{ owner: 'p10-a', uid: { start: 1000, end: 1001 }, gid: { start: 1000, end: 1001 }, nsUid: 1000 }]);
    // the same host ID for another owner: CONFLICT, and that owner gets nothing
    await expectCode(
      allocator.allocate({ owner: 'p10-b', pool: 'p10', raw: [{ kind: 'uid', hostId: 1000, nsId: 0, count: 1 }] }),
      'CONFLICT',
      /already granted/,
    );
    expect(await allocator.find('p10-b')).toBeUndefined();
    expect((await allocator.stats('p10')).active).toBe(1);
    // released: the raw grant is free again
    await allocator.release('p10-a');
    const b = await allocator.allocate({ owner: 'p10-b', pool: 'p10', raw: [{ kind: 'uid', hostId: 1000, nsId: 0, count: 1 }] });
    expect(b.maps.uid[0]).toEqual({ nsId: 0, hostId: 1000, count: 1 });
    // replaying with different raw entries is a conflict
    await expectCode(allocator.allocate({ owner: 'p10-b', pool: 'p10' }), 'CONFLICT');
  });

  it('refuses host 0, IDs outside the admin-allowed list, and IDs inside any pool', async () => {
    await pool(11, 2, { rawAllowed: { uid: [{ start: 1, end: 200_000_000 }], gid: [{ start: 1, end: 200_000_000 }] } });
    await expectCode(
      allocator.allocate({ owner: 'p11-a', pool: 'p11', raw: [{ kind: 'uid', hostId: 0, nsId: 0, count: 1 }] }),
      'INVALID_INPUT',
      /host ID 0/,
    );
    await expectCode(
      allocator.allocate({ owner: 'p11-a', pool: 'p11', raw: [{ kind: 'uid', hostId: 300_000_000, nsId: 0, count: 1 }] }),
      'FORBIDDEN',
    );
    const other = block(1, 1)[0]!.start; // inside pool p1's slot area
    await expectCode(
      allocator.allocate({ owner: 'p11-a', pool: 'p11', raw: [{ kind: 'uid', hostId: other, nsId: 0, count: 1 }] }),
      'CONFLICT',
      /slice area/,
    );
    expect(await allocator.find('p11-a')).toBeUndefined();
    expect((await allocator.stats('p11')).active).toBe(0);
  });
});

describe('the exclusion constraint', () => {
  it('rejects a hand-written overlapping INSERT', async () => {
    await pool(12, 2);
    const lease = await allocator.allocate({ owner: 'p12-a', pool: 'p12' });
    const { rows } = await db.pool.query<{ id: number }>(`SELECT id FROM id_pool WHERE name = 'p12'`);
    const err = await db.pool
      .query(
        `INSERT INTO id_slice (pool_id, owner, kind, slot, slots, uid_range, gid_range)
       VALUES ($1, 'intruder', 'isolated', 99, 1, int8range($2, $3), int8range(5, 6))`,
        [rows[0]!.id, lease.uidBase + S - 1, lease.uidBase + 2 * S],
      )
      .then(
        () => undefined,
        (e: { code?: string }) => e,
      );
    expect(err?.code).toBe('23P01');
  });
});

describe('syncPool', () => {
  it('keeps leases outside a shrunken pool as out_of_pool, never reuses them, and forgets them on release', async () => {
    await pool(13, 4);
    const leases = [];
    for (let i = 0; i < 4; i++) leases.push(await allocator.allocate({ owner: `p13-${i}`, pool: 'p13' }));
    await allocator.release('p13-2');
    const report = await allocator.syncPool('p13', block(13, 2), block(13, 2));
    expect(report).toMatchObject({ removed: 1, outOfPool: 1 });
    expect(warnings.some((w) => w.includes('p13 shrank'))).toBe(true);
    expect(await allocator.stats('p13')).toMatchObject({ total: 2, active: 2, outOfPool: 1, free: 0 });
    const outside = (await allocator.list({ pool: 'p13' })).filter((x) => x.state === 'out_of_pool');
    expect(outside.map((x) => x.owner)).toEqual(['p13-3']);
    expect((await allocator.get('p13-3')).uidBase).toBe(leases[3]!.uidBase); // still usable
    await allocator.release('p13-3');
    expect(await allocator.stats('p13')).toMatchObject({ total: 2, outOfPool: 0 });
    // growing back brings the slots back as free
    await allocator.syncPool('p13', block(13, 4), block(13, 4));
    expect(await allocator.stats('p13')).toMatchObject({ total: 4, active: 2, free: 2 });
  });

  it('ensurePool creates once and then syncs', async () => {
    const spec = { name: 'ens', uidRanges: block(14, 2), gidRanges: block(14, 2) };
    const [a, b] = await Promise.all([allocator.ensurePool(spec), allocator.ensurePool(spec)]);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1);
    expect((await allocator.stats('ens')).total).toBe(2);
  });
});
