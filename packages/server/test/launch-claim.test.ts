import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newContainer } from './support/container-rows';
import { Allocator, leaseFromRow, sqlStateOf } from '@nagaya/allocator';
import type { ContainerState } from '@nagaya/contract';
import { ContainerStore, type IdmapRequest } from '../src/store/container-store';
import { Db } from '../src/store/db';
import { createTestDatabase, type TestDatabase } from '../../allocator/test/support/test-database';

// A launch claims its row and takes its slice in one statement (claimWithDefaultLease): these
// check it against the allocator's own answers on a real database.

const SLICE = 65536;
let testDb: TestDatabase;
let db: Db;
let store: ContainerStore;
let allocator: Allocator;

beforeAll(async () => {
  testDb = await createTestDatabase('nagaya_claim');
  db = new Db(testDb.url, 4);
  store = new ContainerStore(db);
  allocator = new Allocator(db.pool);
  // a create places a row only on a node that is active
  await db.query(`INSERT INTO node (name) VALUES ('node-a')`);
  const range = (start: number, slices: number) => [{ start, end: start + slices * SLICE }];
  await allocator.createPool({ name: 'two', uidRanges: range(2_100_000_000, 2), gidRanges: range(2_100_000_000, 2), quarantineSeconds: 0 });
});
afterAll(async () => {
  await db?.pool.end();
  await testDb?.drop();
});

async function container(state: ContainerState, idmap: IdmapRequest = {}, pool = 'two'): Promise<string> {
  const c = newContainer({ idmap, pool });
  await store.create(c, { launchJobId: c.id, queue: 'node-node-a', actor: 'test' });
  if (state !== 'pending') await store.transition(c.id, [], state);
  return c.id;
}

describe('claimWithDefaultLease', () => {
  it('moves a pending row to starting and gives it the lease the allocator then reports, once', async () => {
    const id = await container('pending', { isolated: true });
    const claimed = await store.claimWithDefaultLease(id, ['pending'], 'node-a');
    expect(claimed?.row.state).toBe('starting');
    expect(claimed?.lease?.created).toBe(true);
    const lease = leaseFromRow(claimed!.lease!, 'two');
    expect(lease.maps.uid[0]).toMatchObject({ nsId: 0, count: SLICE });
    expect(await allocator.get(id)).toMatchObject({ uidBase: lease.uidBase, slots: 1, isolated: true, pool: 'two' });
    // a retry of the job replays the same lease
    const again = await store.claimWithDefaultLease(id, ['starting'], 'node-a');
    expect(again?.lease?.created).toBe(false);
    expect(Number(again?.lease?.lease_uid_base)).toBe(lease.uidBase);
    await allocator.release(id);
  });

  it("reads what the launch needs of the row's image in the same statement, only when asked", async () => {
    const rule = { builtInProject: 'default', builtInSource: 'busybox-static' };
    await db.query(
      `INSERT INTO image (project, name, size_bytes, source, format) VALUES ('default', 'busybox', 1, 'busybox-static', 'directory')`,
    );
    const builtIn = await container('pending', { isolated: true });
    expect((await store.claimWithDefaultLease(builtIn, ['pending'], 'node-a', rule))?.image).toEqual({
      project: 'default',
      format: 'directory',
      digest: null,
      layers: [],
    });
    // without the rule the statement reads no image
    const plain = await container('pending', { isolated: true });
    expect((await store.claimWithDefaultLease(plain, ['pending'], 'node-a'))?.image).toBeUndefined();
    await allocator.release(builtIn);
    await allocator.release(plain);
    await db.query(`DELETE FROM image WHERE project = 'default' AND name = 'busybox'`);
  });

  it('claims nothing and allocates nothing when the row is in another state or gone', async () => {
    const id = await container('running');
    expect(await store.claimWithDefaultLease(id, ['pending'], 'node-a')).toBeUndefined();
    expect(await store.claimWithDefaultLease(randomUUID(), ['pending'], 'node-a')).toBeUndefined();
    // a row moved to another node is that node's to claim
    const moved = await container('pending');
    expect(await store.claimWithDefaultLease(moved, ['pending'], 'node-b')).toBeUndefined();
    expect(await allocator.find(moved)).toBeUndefined();
    expect(await allocator.find(id)).toBeUndefined();
    expect((await store.findById(id))?.state).toBe('running');
  });

  it('leaves a map other than the default to the allocator: claimed, no lease taken', async () => {
    for (const idmap of [{ size: 2 * SLICE }, { key: 'sticky' }, { isolated: false }]) {
      const id = await container('pending', idmap);
      const claimed = await store.claimWithDefaultLease(id, ['pending'], 'node-a');
      expect(claimed?.row.state).toBe('starting');
      expect(claimed?.lease).toBeUndefined();
      expect(await allocator.find(id)).toBeUndefined();
    }
  });

  it('takes the claim back with a failed allocation: a full pool leaves the row pending and throws its SQL error', async () => {
    const a = await container('pending');
    const b = await container('pending');
    const c = await container('pending');
    expect((await store.claimWithDefaultLease(a, ['pending'], 'node-a'))?.lease).toBeDefined();
    expect((await store.claimWithDefaultLease(b, ['pending'], 'node-a'))?.lease).toBeDefined();
    const err = await store.claimWithDefaultLease(c, ['pending'], 'node-a').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(sqlStateOf(err)).toBeDefined();
    expect((await store.findById(c))?.state).toBe('pending');
    expect(await allocator.find(c)).toBeUndefined();
    await expect(allocator.allocate({ owner: c, pool: 'two' })).rejects.toMatchObject({ code: 'POOL_EXHAUSTED' });
    await allocator.release(a);
    await allocator.release(b);
  });
});

describe('create with guards', () => {
  const guard = { image: { builtInProject: 'default', builtInSource: 'busybox-static' }, freeSlot: true };
  const containersUsed = async () =>
    Number((await db.query<{ containers: string }>("SELECT containers FROM project_usage WHERE project = 'default'")).rows[0]!.containers);
  const newContainer = (image: string, pool = 'one') => {
    const id = randomUUID();
    return {
      row: {
        id,
        project: 'default',
        name: `g-${id.slice(0, 8)}`,
        image,
        command: ['true'],
        env: {},
        limits: {},
        idmap: {},
        security: {},
        pool,
        node: 'node-a',
      },
      records: { launchJobId: id, queue: 'node-node-a', actor: 'test' },
    };
  };

  beforeAll(async () => {
    await db.query("INSERT INTO image (project, name, size_bytes, source) VALUES ('default', 'busybox', 1, 'busybox-static')");
    const range = [{ start: 2_200_000_000, end: 2_200_000_000 + SLICE }];
    await allocator.createPool({ name: 'one', uidRanges: range, gidRanges: range, quarantineSeconds: 0 });
  });

  it('writes the row, its job and its audit event when the image exists and the pool has a slot', async () => {
    const { row, records } = newContainer('busybox');
    const before = await containersUsed();
    const created = await store.create(row, records, guard);
    expect('refused' in created).toBe(false);
    expect(created).toMatchObject({ row: { id: row.id, state: 'pending' }, imageProject: 'default' });
    expect((await db.query('SELECT 1 FROM job WHERE id = $1', [row.id])).rowCount).toBe(1);
    expect(await containersUsed()).toBe(before + 1);
  });

  it('writes nothing and charges no quota for a missing image or a full pool', async () => {
    const taken = randomUUID();
    await allocator.allocate({ owner: taken, pool: 'one' });
    for (const [image, refused] of [
      ['nosuch', 'image'],
      ['busybox', 'pool'],
    ] as const) {
      const { row, records } = newContainer(image);
      const before = await containersUsed();
      expect(await store.create(row, records, guard)).toEqual({ refused });
      expect(await store.findById(row.id)).toBeUndefined();
      expect((await db.query('SELECT 1 FROM job WHERE id = $1', [row.id])).rowCount).toBe(0);
      expect((await db.query("SELECT 1 FROM audit_event WHERE details->>'id' = $1", [row.id])).rowCount).toBe(0);
      expect(await containersUsed()).toBe(before);
    }
    // without the slot guard (a sticky key, a shared map) the full pool is the worker's to find
    const { row, records } = newContainer('busybox');
    expect('refused' in (await store.create(row, records, { image: guard.image }))).toBe(false);
    await allocator.release(taken);
  });
});

describe('an unflushed transition', () => {
  it('changes the row like any other, and leaves synchronous_commit on for the next statement of its connection', async () => {
    const one = new Db(testDb.url, 1);
    try {
      const single = new ContainerStore(one);
      const id = await container('starting');
      const row = await single.transition(id, ['starting'], 'running', { pid: 4242 }, undefined, { unflushed: true });
      expect(row).toMatchObject({ id, state: 'running', pid: 4242 });
      expect((await store.findById(id))?.state).toBe('running');
      expect((await one.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!.synchronous_commit).toBe('on');
      // a guard that does not hold changes nothing
      expect(await single.transition(id, ['starting'], 'stopped', {}, undefined, { unflushed: true })).toBeUndefined();
    } finally {
      await one.close();
    }
  });
});
