import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiError } from '@nagaya/contract';
import { launcherPidOf } from '../../packages/native/test/helpers';
import { problems, snapshot } from '../support/invariants';
import { eventually, NagayaSystem } from '../support/system';

/**
 * Node liveness and fencing (issue 12) with three worker nodes, each its own `nagaya serve --role
 * worker` process with its own node name, launcher and state directory, against one API process:
 * a worker stopped with SIGTERM takes no new container from the moment it says it is draining;
 * a node killed whole (worker, launcher and every container, SIGKILL) has its pending containers
 * run elsewhere, its running ones shown unknown, then lost with their slices fenced after
 * `nagaya nodes remove --dead`, free after `--release-slices`; the other nodes are not disturbed.
 */

const NODES = ['node-a', 'node-b', 'node-c'];
const OFFLINE_MS = 3000;

interface Container {
  id: string;
  name: string;
  state: string;
  lastState: string | null;
  node: string;
  pid: number | null;
  error: unknown;
  idmap: { uid: Array<{ hostId: number; count: number }> };
}

let sys: NagayaSystem;
beforeAll(async () => {
  sys = await NagayaSystem.start({ slices: 128, nodes: NODES, env: { NAGAYA_SWEEP_MS: '500' } });
  await sys.db.query('UPDATE id_pool SET quarantine_seconds = 0');
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

const get = (name: string) => sys.admin.get<Container>(`/containers/${name}`);
const running = (name: string, timeoutMs = 30_000) =>
  eventually(
    async () => {
      const c = await get(name);
      if (c.state === 'failed') throw new Error(`${name} failed`);
      return c.state === 'running' ? c : undefined;
    },
    timeoutMs,
    `${name} running`,
  );
const launch = (name: string, node?: string) =>
  sys.admin.post<{ container: Container }>('/containers', { name, image: 'busybox', ...(node ? { node } : {}) });
const uidMap = (pid: number) => readFileSync(`/proc/${pid}/uid_map`, 'utf8');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const nodeRow = async (name: string) =>
  (
    await sys.db.query<{ status: string; draining_at: Date | null; heartbeat_at: Date }>(
      'SELECT status, draining_at, heartbeat_at FROM node WHERE name = $1',
      [name],
    )
  ).rows[0]!;

/** Takes every free slice of the default pool through the allocator's own SQL; returns their uid bases, then gives them back. */
async function everyFreeSlice(): Promise<number[]> {
  const pool = (await sys.db.query<{ id: number }>(`SELECT id FROM id_pool WHERE name = 'default'`)).rows[0]!.id;
  const bases: number[] = [];
  const owners: string[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const owner = `probe-${i}`;
      try {
        const { rows } = await sys.db.query<{ lease_uid_base: string }>(
          'SELECT lease_uid_base FROM nagaya_allocate($1, $2, true, 1, NULL)',
          [pool, owner],
        );
        owners.push(owner);
        bases.push(Number(rows[0]!.lease_uid_base));
      } catch (err) {
        if ((err as { code?: string }).code === 'NG001') return bases; // the pool is exhausted
        throw err;
      }
    }
    throw new Error('the pool never ran out');
  } finally {
    for (const owner of owners) await sys.db.query('SELECT nagaya_release($1)', [owner]);
  }
}

describe('a worker stopped with SIGTERM', () => {
  it('receives no new placement from the moment it marks itself draining: 50 creates during the stop', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `term${i}`);
    const worker = sys.workers.get('node-c')!;
    let next = 0;
    let answered = 0;
    let stopping: Promise<void> | undefined;
    const errors: unknown[] = [];
    // paced over about 2 s, so that most creates come after the stop began
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (next < names.length) {
          const name = names[next++]!;
          await launch(name).catch((err: unknown) => errors.push(err));
          if (++answered === 8) stopping = worker.kill('SIGTERM');
          await new Promise((r) => setTimeout(r, 200));
        }
      }),
    );
    await stopping;
    try {
      expect(errors).toEqual([]);
      const node = await nodeRow('node-c');
      expect(node.status).toBe('offline');
      expect(node.draining_at).toBeInstanceOf(Date);
      // placed there before the mark (so the stop did have work to refuse), none at or after it
      const placed = await sys.db.query<{ before: string; after: string }>(
        `SELECT count(*) FILTER (WHERE at < $1) AS before, count(*) FILTER (WHERE at >= $1) AS after
           FROM audit_event WHERE action = 'container.create' AND details->>'node' = 'node-c'`,
        [node.draining_at],
      );
      expect(Number(placed.rows[0]!.before)).toBeGreaterThan(0);
      expect(Number(placed.rows[0]!.after)).toBe(0);
      // and most creates came after the mark, several while the API's fleet snapshot (up to 1 s old) may still have said active
      const later = await sys.db.query<{ soon: string; all: string }>(
        `SELECT count(*) FILTER (WHERE at < $1::timestamptz + interval '1 second') AS soon, count(*) AS all
           FROM audit_event WHERE action = 'container.create' AND at >= $1::timestamptz`,
        [node.draining_at],
      );
      expect(Number(later.rows[0]!.soon)).toBeGreaterThanOrEqual(3);
      expect(Number(later.rows[0]!.all)).toBeGreaterThanOrEqual(20);
      const rows = await sys.db.query<{ n: string }>(`SELECT count(*) AS n FROM container WHERE node = 'node-c' AND created_at >= $1`, [
        node.draining_at,
      ]);
      expect(Number(rows.rows[0]!.n)).toBe(0);
      // every one runs: what node-c had not begun to launch was handed to the others
      const settled = (c: Container) => c.state === 'running' || (c.state === 'unknown' && c.node === 'node-c');
      const all = await eventually(
        async () => {
          const now = await Promise.all(names.map(get));
          return now.every(settled) ? now : undefined;
        },
        30_000,
        'every create running (or unknown on the stopped node)',
      ).catch(() => Promise.all(names.map(get)));
      expect(all.filter((c) => !settled(c)).map((c) => `${c.name} ${c.state} on ${c.node}: ${JSON.stringify(c.error)}`)).toEqual([]);
      const onC = all.filter((c) => c.node === 'node-c');
      for (const c of onC) expect(c).toMatchObject({ state: 'unknown', lastState: 'running' });

      // back: active again, and what it ran is adopted, not relaunched
      await sys.startWorker('node-c');
      expect((await nodeRow('node-c')).status).toBe('active');
      for (const c of onC) expect(await running(c.name)).toMatchObject({ pid: c.pid, node: 'node-c' });
    } finally {
      // whatever failed above, the next test starts from three nodes and none of these
      if (!sys.workers.get('node-c')?.running) await sys.startWorker('node-c');
      await Promise.all(
        names.map(async (n) => {
          const res = await sys.admin.delete<{ job: { id: string } | null }>(`/containers/${n}?force=1`).catch(() => ({ job: null }));
          if (res.job) await sys.admin.waitForJob(res.job.id);
        }),
      );
    }
  }, 180_000);
});

describe('a node killed whole (worker, launcher, containers: SIGKILL)', () => {
  it('runs its pending containers elsewhere, shows its running ones unknown, then lost and fenced, then free; the others are undisturbed', async () => {
    if (!sys.workers.get('node-c')?.running) await sys.startWorker('node-c'); // the test before failed half-way
    // containers on every node, running
    for (const node of NODES) for (const i of [1, 2]) await launch(`${node}-run${i}`, node);
    const before = new Map<string, Container>();
    for (const node of NODES) for (const i of [1, 2]) before.set(`${node}-run${i}`, await running(`${node}-run${i}`));
    const others = [...before.values()].filter((c) => c.node !== 'node-b');
    const maps = new Map(others.map((c) => [c.name, uidMap(c.pid!)]));
    const doomed = [...before.values()].filter((c) => c.node === 'node-b');

    // the worker first: its heartbeat is still fresh, so containers pinned to it are accepted and wait there
    await sys.killWorker('node-b', 'SIGKILL');
    const jobs: string[] = [];
    for (const i of [1, 2, 3]) jobs.push((await launch(`node-b-pending${i}`, 'node-b')).job.id);
    for (const i of [1, 2, 3]) expect((await get(`node-b-pending${i}`)).state).toBe('pending');
    // then its launcher and every container process
    process.kill(launcherPidOf(sys.stateDir('node-b')), 'SIGKILL');
    for (const c of doomed) process.kill(c.pid!, 'SIGKILL');
    await eventually(async () => (doomed.every((c) => !alive(c.pid!)) ? true : undefined), 10_000, 'the containers of node-b gone');

    // offline once its heartbeat is OFFLINE_MS old; its pending containers run elsewhere within 5 s of that
    const offlineAt = (await nodeRow('node-b')).heartbeat_at.getTime() + OFFLINE_MS;
    const moved = await Promise.all([1, 2, 3].map((i) => running(`node-b-pending${i}`, 20_000)));
    const lateBy = Date.now() - offlineAt;
    expect(lateBy).toBeLessThan(5000);
    for (const c of moved) expect(['node-a', 'node-c']).toContain(c.node);
    // the job the create answered with followed its container
    for (const id of jobs) expect(await sys.admin.waitForJob(id, 10_000)).toMatchObject({ state: 'completed' });

    // its running containers: unknown, and nothing waits on them
    for (const c of doomed) expect(await get(c.name)).toMatchObject({ state: 'unknown', lastState: 'running', node: 'node-b' });
    const victim = doomed[0]!.name;
    for (const call of [
      () => sys.admin.post(`/containers/${victim}/exec`, { command: ['true'] }),
      () => sys.admin.get(`/containers/${victim}/logs`),
      () => sys.admin.post(`/containers/${victim}/stop`, {}),
    ]) {
      const t0 = Date.now();
      const err = (await call().catch((e: unknown) => e)) as ApiError;
      expect(err).toMatchObject({ status: 503, code: 'NODE_OFFLINE' });
      expect(Date.now() - t0).toBeLessThan(2000);
    }

    // removed as dead: lost, their slices fenced
    const removed = await sys.cli(['nodes', 'remove', 'node-b', '--dead']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('2 lost');
    for (const c of doomed) expect((await get(c.name)).state).toBe('lost');
    const fencedBases = doomed.map((c) => c.idmap.uid[0]!.hostId).sort();
    const fenced = await sys.db.query<{ base: string }>(
      `SELECT lower(uid_range)::text AS base FROM id_slice WHERE fenced_node = 'node-b' ORDER BY 1`,
    );
    expect(fenced.rows.map((r) => Number(r.base)).sort()).toEqual(fencedBases);
    // a lost container is deleted at once; its slice stays fenced
    const deleted = await sys.admin.delete<{ job: unknown; deleted?: boolean }>(`/containers/${doomed[1]!.name}?force=1`);
    expect(deleted).toMatchObject({ job: null, deleted: true });
    await expect(get(doomed[1]!.name)).rejects.toMatchObject({ status: 404 });
    // every free slice taken: none of the fenced ones is among them
    const free = await everyFreeSlice();
    expect(free.length).toBeGreaterThan(10);
    for (const base of fencedBases) expect(free).not.toContain(base);
    expect(problems(await snapshot(sys, ['node-a', 'node-c']))).toEqual([]);

    // released by the admin (the host is off): free again
    const released = await sys.cli(['nodes', 'remove', 'node-b', '--dead', '--release-slices', '--json']);
    expect(released.code, released.stderr).toBe(0);
    expect((JSON.parse(released.stdout) as { released: string[] }).released.sort()).toEqual(doomed.map((c) => c.id).sort());
    expect((await sys.db.query(`SELECT 1 FROM id_slice WHERE fenced_node IS NOT NULL`)).rowCount).toBe(0);
    const freeAfter = await everyFreeSlice();
    for (const base of fencedBases) expect(freeAfter).toContain(base);

    // nothing on the other nodes was disturbed
    for (const c of others) {
      expect(await get(c.name)).toMatchObject({ state: 'running', pid: c.pid, node: c.node });
      expect(uidMap(c.pid!)).toBe(maps.get(c.name));
    }
    const { nodes } = await sys.admin.get<{ nodes: Array<{ name: string; status: string }> }>('/nodes');
    expect(nodes.map((n) => [n.name, n.status])).toEqual([
      ['node-a', 'active'],
      ['node-b', 'removed'],
      ['node-c', 'active'],
    ]);
  }, 180_000);
});

describe('a removed node that comes back', () => {
  it('kills the containers lost with it and releases their fences', async () => {
    await launch('comeback', 'node-c');
    await running('comeback');
    const { containers } = await sys.admin.get<{ containers: Container[] }>('/containers?node=node-c');
    const onC = containers.filter((c) => c.state === 'running');
    expect(onC.length).toBeGreaterThanOrEqual(3); // node-c-run1, node-c-run2, comeback (and what moved there)
    await sys.killWorker('node-c', 'SIGKILL'); // the launcher and the containers live on
    await eventually(async () => ((await get('comeback')).state === 'unknown' ? true : undefined), 10_000, 'comeback unknown');
    const removed = await sys.cli(['nodes', 'remove', 'node-c', '--dead']);
    expect(removed.code, removed.stderr).toBe(0);
    for (const c of onC) {
      expect((await get(c.name)).state).toBe('lost');
      expect(alive(c.pid!)).toBe(true); // nobody could reach it
    }
    const fencedOnC = async () => (await sys.db.query(`SELECT 1 FROM id_slice WHERE fenced_node = 'node-c'`)).rowCount;
    expect(await fencedOnC()).toBe(onC.length);

    await sys.startWorker('node-c');
    await eventually(async () => (onC.some((c) => alive(c.pid!)) ? undefined : true), 5000, 'the lost containers killed');
    expect(await fencedOnC()).toBe(0);
    const leases = await sys.db.query('SELECT 1 FROM id_lease WHERE owner = ANY ($1)', [onC.map((c) => c.id)]);
    expect(leases.rowCount).toBe(0);
    for (const c of onC) expect(await get(c.name)).toMatchObject({ state: 'lost', node: 'node-c' });
    expect((await nodeRow('node-c')).status).toBe('active');
    // and it takes new containers again
    await launch('after-return', 'node-c');
    expect((await running('after-return')).node).toBe('node-c');
    expect(problems(await snapshot(sys, ['node-a', 'node-c']))).toEqual([]);
  }, 120_000);
});

describe('nagaya nodes evacuate', () => {
  it('drains a node through the CLI and lists what still runs there', async () => {
    const res = await sys.cli(['nodes', 'evacuate', 'node-a']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^node-a: draining; \d+ moved, \d+ still running there/);
    const { containers } = await sys.admin.get<{ containers: Container[] }>('/containers?node=node-a&state=running');
    for (const c of containers) expect(res.stdout).toContain(c.name);
    const listed = await sys.cli(['nodes']);
    expect(listed.stdout).toMatch(/node-a\s+draining\s+online/);
    // a dead node's removal needs --dead
    const bare = await sys.cli(['nodes', 'remove', 'node-a']);
    expect(bare.code).toBe(2);
  }, 60_000);
});
