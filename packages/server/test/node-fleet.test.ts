import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, waitRunning, type TestFleet } from './support/test-server';

// Evacuating a node, and deleting a container that never started, through the API of a real
// fleet (node-a: API and worker; node-b: a worker). `ghost` is a node row whose heartbeat the test
// keeps fresh but that has no worker: what is placed there stays pending, as on a node that died
// a moment ago.

interface Container {
  id: string;
  name: string;
  state: string;
  node: string;
  pid: number | null;
}

let fleet: TestFleet;
let beat: NodeJS.Timeout;
beforeAll(async () => {
  fleet = await startTestFleet({ slices: 32, nodeName: 'node-a' });
  await fleet.addWorker('node-b');
  const ghostBeat = () => fleet.db.pool.query(`UPDATE node SET heartbeat_at = now() WHERE name = 'ghost'`);
  await fleet.db.pool.query(`INSERT INTO node (name, status) VALUES ('ghost', 'active')`);
  beat = setInterval(() => void ghostBeat().catch(() => undefined), 200);
});
afterAll(async () => {
  clearInterval(beat);
  await fleet?.stop();
});

const get = (name: string) => fleet.admin.get<Container>(`/containers/${name}`);
const usage = async () =>
  Number((await fleet.db.pool.query<{ n: string }>(`SELECT containers AS n FROM project_usage WHERE project = 'default'`)).rows[0]!.n);

describe('deleting a container that never started', () => {
  it('completes in the API at once, with no worker: row, job record and quota use gone, audit recorded', async () => {
    const used = await usage();
    const { container } = await fleet.admin.post<{ container: Container }>('/containers', {
      name: 'never',
      image: 'busybox',
      node: 'ghost',
    });
    expect(container.state).toBe('pending');
    expect(await usage()).toBe(used + 1);
    const t0 = Date.now();
    const res = await fleet.admin.delete<{ job: unknown; deleted?: boolean }>('/containers/never?force=1');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(res).toEqual({ job: null, deleted: true });
    await expect(get('never')).rejects.toMatchObject({ status: 404 });
    await expect(fleet.admin.get(`/jobs/${container.id}`)).rejects.toMatchObject({ status: 404 });
    expect((await fleet.db.pool.query('SELECT 1 FROM job WHERE container_id = $1', [container.id])).rowCount).toBe(0);
    expect(await usage()).toBe(used);
    const audit = await fleet.db.pool.query<{ details: { id: string; atOnce: boolean } }>(
      `SELECT details FROM audit_event WHERE action = 'container.delete' AND target = 'never'`,
    );
    expect(audit.rows.map((r) => r.details)).toEqual([{ id: container.id, node: 'ghost', atOnce: true }]);
  });

  it('goes through a worker for a container that has started', async () => {
    await fleet.admin.post('/containers', { name: 'started', image: 'busybox', node: 'node-b' });
    await waitRunning(fleet, 'started');
    const res = await fleet.admin.delete<{ job: { id: string } | null }>('/containers/started?force=1');
    expect(res.job).not.toBeNull();
    expect((await fleet.admin.waitForJob(res.job!.id)).state).toBe('completed');
  });
});

describe('evacuating a node', () => {
  it('moves its pending containers, which then run elsewhere', async () => {
    const { job } = await fleet.admin.post<{ job: { id: string } }>('/containers', { name: 'waits', image: 'busybox', node: 'ghost' });
    expect((await get('waits')).state).toBe('pending');
    const ev = await fleet.admin.post<{ status: string; moved: Array<{ name: string; to: string }>; running: unknown[] }>(
      '/nodes/ghost/evacuate',
      {},
    );
    expect(ev.status).toBe('draining');
    expect(ev.moved.map((m) => m.name)).toEqual(['waits']);
    expect(ev.running).toEqual([]);
    const ran = await waitRunning<Container>(fleet, 'waits');
    expect(['node-a', 'node-b']).toContain(ran.node);
    // the job the create answered with followed the container to its new node
    expect(await fleet.admin.get(`/jobs/${job.id}`)).toMatchObject({ node: ran.node, kind: 'launch' });
    expect((await fleet.admin.waitForJob(job.id)).state).toBe('completed');
  });

  it('marks it draining: no new container goes there, its stopped ones move, its running ones are listed and still served', async () => {
    await fleet.admin.post('/containers', { name: 'ev-run', image: 'busybox', node: 'node-b' });
    await fleet.admin.post('/containers', { name: 'ev-stop', image: 'busybox', node: 'node-b' });
    const run = await waitRunning<Container>(fleet, 'ev-run');
    await waitRunning(fleet, 'ev-stop');
    const stop = await fleet.admin.post<{ job: { id: string } }>('/containers/ev-stop/stop', { timeoutSeconds: 1 });
    await fleet.admin.waitForJob(stop.job.id);
    expect((await get('ev-stop')).state).toBe('stopped');

    // node-a the busier by far: left to the load alone, new containers would all go to node-b
    for (let i = 0; i < 8; i++) await fleet.admin.post('/containers', { name: `load-a${i}`, image: 'busybox', node: 'node-a' });
    const ev = await fleet.admin.post<{
      status: string;
      moved: Array<{ name: string; to: string }>;
      running: Array<{ name: string; state: string }>;
    }>('/nodes/node-b/evacuate', {});
    expect(ev.status).toBe('draining');
    expect(ev.moved).toEqual([{ project: 'default', name: 'ev-stop', to: 'node-a' }]);
    expect(ev.running).toEqual([{ project: 'default', name: 'ev-run', state: 'running' }]);
    const { nodes } = await fleet.admin.get<{ nodes: Array<{ name: string; status: string; online: boolean }> }>('/nodes');
    expect(nodes.find((n) => n.name === 'node-b')).toMatchObject({ status: 'draining', online: true });

    // at once: the API's fleet snapshot may still say active; the insert itself refuses the node
    for (let i = 0; i < 6; i++) {
      const { container } = await fleet.admin.post<{ container: Container }>('/containers', { name: `after-ev${i}`, image: 'busybox' });
      expect(container.node).toBe('node-a');
    }
    await expect(fleet.admin.post('/containers', { name: 'pinned-b', image: 'busybox', node: 'node-b' })).rejects.toMatchObject({
      status: 503,
      code: 'UNAVAILABLE',
    });
    // the moved one starts on its new node; the running one is still served where it is
    const start = await fleet.admin.post<{ job: { id: string } }>('/containers/ev-stop/start', {});
    expect((await fleet.admin.waitForJob(start.job.id)).state).toBe('completed');
    expect(await waitRunning(fleet, 'ev-stop')).toMatchObject({ node: 'node-a' });
    const exec = await fleet.admin.post<{ stdout: string }>('/containers/ev-run/exec', { command: ['hostname'] });
    expect(exec.stdout.trim()).toBe('ev-run');
    expect(await get('ev-run')).toMatchObject({ state: 'running', node: 'node-b', pid: run.pid });
  });

  it('is for an admin of every project only', async () => {
    const { token } = await fleet.admin.post<{ token: string }>('/tokens', { name: 'op', role: 'operator' });
    await expect(fleet.client(token).post('/nodes/node-a/evacuate', {})).rejects.toMatchObject({ status: 403 });
    await expect(fleet.client(token).post('/nodes/node-a/remove', { dead: true })).rejects.toMatchObject({ status: 403 });
    await expect(fleet.admin.post('/nodes/nowhere/evacuate', {})).rejects.toMatchObject({ status: 404 });
    // a node that still beats is not removed as dead
    await expect(fleet.admin.post('/nodes/node-a/remove', { dead: true })).rejects.toMatchObject({ status: 409, code: 'CONFLICT' });
    await expect(fleet.admin.post('/nodes/node-a/remove', {})).rejects.toMatchObject({ status: 400 });
  });
});

describe('a node that finds containers recorded lost with it while it runs', () => {
  it('(back from a partition, say) kills them through its launcher and then lifts their fences', async () => {
    await fleet.admin.post('/containers', { name: 'partitioned', image: 'busybox', node: 'node-a' });
    const c = await waitRunning<Container>(fleet, 'partitioned');
    // what remove --dead did while node-a could not reach Postgres (refused to a node that beats)
    expect(await fleet.api.allocator.fence(c.id, 'node-a')).toBe(true);
    await fleet.db.pool.query(`UPDATE container SET state = 'lost' WHERE id = $1`, [c.id]);
    const alive = () => {
      try {
        process.kill(c.pid!, 0);
        return true;
      } catch {
        return false;
      }
    };
    await eventually(async () => (alive() ? undefined : true), 10_000, 'the lost container killed by its node');
    await eventually(
      async () =>
        (await fleet.db.pool.query('SELECT 1 FROM id_slice WHERE owner = $1 AND fenced_node IS NOT NULL', [c.id])).rowCount
          ? undefined
          : true,
      10_000,
      'its fence lifted',
    );
    // the lease goes in the reconciler's next step after the fence (a busy machine may see the two apart)
    await eventually(
      async () => ((await fleet.db.pool.query('SELECT 1 FROM id_lease WHERE owner = $1', [c.id])).rowCount ? undefined : true),
      10_000,
      'its lease released',
    );
    expect(await get('partitioned')).toMatchObject({ state: 'lost', node: 'node-a' });
    const res = await fleet.admin.delete<{ job: unknown; deleted?: boolean }>('/containers/partitioned?force=1');
    expect(res).toEqual({ job: null, deleted: true });
  });
});
