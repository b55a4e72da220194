import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from './support/test-server';

interface Container {
  name: string;
  state: string;
  node: string;
  pid: number | null;
  exitCode: number | null;
  exitSignal: string | null;
  idmap: { uid: Array<{ hostId: number; count: number }> };
}

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await startTestFleet({ slices: 64, nodeName: 'node-a' });
  await fleet.addWorker('node-b');
});
afterAll(async () => {
  await fleet?.stop();
});

const get = (name: string) => fleet.admin.get<Container>(`/containers/${name}`);
const runningOn = (name: string) =>
  eventually(
    async () => {
      const c = await get(name);
      return c.state === 'running' ? c : undefined;
    },
    30_000,
    `${name} running`,
  );

describe('two worker nodes', () => {
  it('share the load and never overlap', async () => {
    const { nodes } = await fleet.admin.get<{ nodes: Array<{ name: string; online: boolean }> }>('/nodes');
    expect(nodes.map((n) => [n.name, n.online])).toEqual([
      ['node-a', true],
      ['node-b', true],
    ]);
    const names = Array.from({ length: 16 }, (_, i) => `spread${i}`);
    await Promise.all(names.map((name) => fleet.admin.post('/containers', { name, image: 'busybox' })));
    const containers = await Promise.all(names.map(runningOn));
    const perNode = new Map<string, number>();
    for (const c of containers) perNode.set(c.node, (perNode.get(c.node) ?? 0) + 1);
    expect(perNode.get('node-a')).toBeGreaterThan(0);
    expect(perNode.get('node-b')).toBeGreaterThan(0);
    const starts = containers.map((c) => c.idmap.uid[0]!.hostId);
    expect(new Set(starts).size).toBe(starts.length);
    const { rows } = await fleet.db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM id_slice a JOIN id_slice b ON a.id < b.id
        WHERE a.state <> 'quarantined' AND b.state <> 'quarantined' AND (a.uid_range && b.uid_range OR a.gid_range && b.gid_range)`,
    );
    expect(Number(rows[0]!.n)).toBe(0);
    await Promise.all(
      names.map(async (name) =>
        fleet.admin.waitForJob((await fleet.admin.delete<{ job: { id: string } }>(`/containers/${name}?force=1`)).job.id),
      ),
    );
  });

  it('a container pinned to a node runs there', async () => {
    await fleet.admin.post('/containers', { name: 'pinned', image: 'busybox', node: 'node-b' });
    expect((await runningOn('pinned')).node).toBe('node-b');
  });
});

describe('a worker restarted under load', () => {
  it('re-adopts running containers and records the exit of one that ended while it was down', async () => {
    await fleet.admin.post('/containers', { name: 'keeps', image: 'busybox', node: 'node-b' });
    await fleet.admin.post('/containers', { name: 'dies', image: 'busybox', node: 'node-b' });
    const keeps = await runningOn('keeps');
    const dies = await runningOn('dies');
    const worker = fleet.workers[0]!;
    await worker.close(); // the worker goes away; its containers must not
    process.kill(keeps.pid!, 0);
    process.kill(dies.pid!, 'SIGKILL'); // ends while nobody watches
    await eventually(async () => {
      try {
        process.kill(dies.pid!, 0);
        return undefined;
      } catch {
        return true;
      }
    });
    // nobody could have noticed yet: its node stopped, so the row's running is only its last word
    expect(await get('dies')).toMatchObject({ state: 'unknown', lastState: 'running' });
    const again = await fleet.addWorker('node-b');
    expect(again.worker).toBeDefined();
    const ended = await eventually(async () => {
      const c = await get('dies');
      return c.state === 'failed' ? c : undefined;
    });
    expect(ended.exitSignal).toBe('SIGKILL');
    const still = await get('keeps');
    expect(still.state).toBe('running');
    expect(still.pid).toBe(keeps.pid);
    // the re-adopted container is still fully managed: exec and stop work through the new worker
    const exec = await fleet.admin.post<{ stdout: string }>('/containers/keeps/exec', { command: ['hostname'] });
    expect(exec.stdout.trim()).toBe('keeps');
    const stop = await fleet.admin.post<{ job: { id: string } }>('/containers/keeps/stop', { timeoutSeconds: 2 });
    expect((await fleet.admin.waitForJob(stop.job.id)).state).toBe('completed');
  });
});

describe('the reconciler', () => {
  it('releases a slice whose owner is gone and stops a container that has no row', async () => {
    // a lease left behind by a launch that died half-way (its row is gone)
    await fleet.api.allocator.allocate({ owner: '00000000-0000-4000-8000-000000000001' });
    // a process in nagaya's launcher with no row
    const runtime = fleet.api.worker!.runtime;
    const lease = await fleet.api.allocator.allocate({ owner: '00000000-0000-4000-8000-000000000002' });
    const stray = await runtime.launch({
      id: '00000000-0000-4000-8000-000000000002',
      image: `${fleet.base.dataDir}/images/busybox`,
      argv: ['sleep', '1000'],
      hostname: 'stray',
      uidMap: lease.maps.uid,
      gidMap: lease.maps.gid,
    });
    process.kill(stray.pid, 0);
    await eventually(
      async () => {
        const owners = (await fleet.api.allocator.owners()).map((o) => o.owner);
        return owners.includes('00000000-0000-4000-8000-000000000001') || owners.includes('00000000-0000-4000-8000-000000000002')
          ? undefined
          : true;
      },
      20_000,
      'orphan leases released',
    );
    await eventually(
      async () => {
        try {
          process.kill(stray.pid, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      20_000,
      'stray container stopped',
    );
  });

  it('re-enqueues a pending container whose job Redis lost', async () => {
    // a row the API wrote, whose job never reached Redis (Redis restarted without persistence)
    const { rows } = await fleet.db.pool.query<{ id: string }>(
      `INSERT INTO container (id, project, name, image, command, node, state, updated_at)
       VALUES (gen_random_uuid(), 'default', 'lostjob', 'busybox', '["sleep","1000"]', 'node-a', 'pending', now() - interval '1 minute') RETURNING id`,
    );
    expect(rows[0]!.id).toBeTruthy();
    expect((await runningOn('lostjob')).node).toBe('node-a');
  });
});

describe('node heartbeats', () => {
  it('shows a silent node offline and gives it no new containers', async () => {
    const worker = fleet.workers.at(-1)!;
    await worker.close();
    await eventually(
      async () => {
        const { nodes } = await fleet.admin.get<{ nodes: Array<{ name: string; online: boolean }> }>('/nodes');
        return nodes.find((n) => n.name === 'node-b')?.online === false ? true : undefined;
      },
      15_000,
      'node-b offline',
    );
    const names = ['after-a', 'after-b', 'after-c', 'after-d'];
    for (const name of names) await fleet.admin.post('/containers', { name, image: 'busybox' });
    for (const name of names) expect((await runningOn(name)).node).toBe('node-a');
    const pinned = await fleet.admin
      .post('/containers', { name: 'to-offline', image: 'busybox', node: 'node-b' })
      .catch((e: { status: number; code: string }) => e);
    expect(pinned).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
    await fleet.admin.get('/containers/to-offline').then(
      () => expect.unreachable('a refused create must not leave a row'),
      (e: { status: number }) => expect(e.status).toBe(404),
    );
  });
});
