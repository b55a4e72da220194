import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { ContainerView, VolumeView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../src/cli/api-client';
import { eventually, startTestFleet, type TestFleet } from './support/test-server';
import { refusal } from './support/test-helpers';

// The volume API without a launch: records, projects, roles, placement, refusals, and the
// reconciler's repair of directories and rows. What a container sees through a mount is
// volumes.test.ts.

let fleet: TestFleet;
let alpha: ApiClient;
let alphaViewer: ApiClient;
let beta: ApiClient;

async function token(name: string, role: string, project: string): Promise<ApiClient> {
  const created = await fleet.admin.post<{ token: string }>('/tokens', { name, role, project });
  return fleet.client(created.token);
}

const dirOf = (v: Pick<VolumeView, 'project' | 'id'>) => join(fleet.base.dataDir, 'volumes', v.project, v.id);

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 16 });
  await fleet.admin.post('/projects', { name: 'alpha' });
  await fleet.admin.post('/projects', { name: 'beta' });
  alpha = await token('alpha-op', 'operator', 'alpha');
  alphaViewer = await token('alpha-viewer', 'viewer', 'alpha');
  beta = await token('beta-op', 'operator', 'beta');
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
});

describe('volumes', () => {
  it('makes a volume: a directory of its node, owned 0:0 mode 0755, behind directories only root may enter', async () => {
    const v = await alpha.post<VolumeView>('/volumes', { name: 'data' });
    expect(v).toMatchObject({ project: 'alpha', name: 'data', node: 'node-a', sizeBytes: null, mountedBy: [] });
    const dir = statSync(dirOf(v));
    expect([dir.isDirectory(), dir.uid, dir.gid, dir.mode & 0o7777]).toEqual([true, 0, 0, 0o755]);
    for (const parent of [join(fleet.base.dataDir, 'volumes'), join(fleet.base.dataDir, 'volumes', 'alpha')]) {
      expect(statSync(parent).mode & 0o777).toBe(0o700);
    }
    const shown = await alphaViewer.get<VolumeView>('/volumes/data');
    expect(shown.id).toBe(v.id);
    expect(shown.usedBytes).toBeGreaterThan(0); // du of an empty directory: its own block
    expect((await alphaViewer.get<{ volumes: VolumeView[] }>('/volumes')).volumes.map((x) => x.name)).toEqual(['data']);
    // the same name again: CONFLICT; a viewer cannot make one
    expect((await refusal(alpha.post('/volumes', { name: 'data' }))).code).toBe('CONFLICT');
    expect((await refusal(alphaViewer.post('/volumes', { name: 'other' }))).code).toBe('FORBIDDEN');
  });

  it("gives another project's token 404 for a volume, and lets it use the same name for its own", async () => {
    for (const call of [
      () => beta.get('/volumes/data'),
      () => beta.delete('/volumes/data'),
      () => beta.get('/volumes/data?project=alpha'),
    ]) {
      const err = await refusal(call());
      expect([err.status, err.code]).toEqual([404, 'NOT_FOUND']);
    }
    expect((await beta.get<{ volumes: VolumeView[] }>('/volumes')).volumes).toEqual([]);
    // a beta container cannot mount alpha's volume: beta has none of that name
    const err = await refusal(beta.post('/containers', { name: 'thief', image: 'busybox', mounts: [{ volume: 'data', path: '/data' }] }));
    expect([err.code, err.message]).toEqual(['INVALID_INPUT', 'volume data does not exist in project beta']);
    const theirs = await beta.post<VolumeView>('/volumes', { name: 'data' });
    expect(theirs.id).not.toBe((await alpha.get<VolumeView>('/volumes/data')).id);
    await beta.delete('/volumes/data');
    expect(existsSync(dirOf(theirs))).toBe(false);
  });

  it('keeps a project with a volume from being deleted', async () => {
    await fleet.admin.post('/projects', { name: 'gamma' });
    await fleet.admin.post('/volumes?project=gamma', { name: 'keep' });
    const blocked = await refusal(fleet.admin.delete('/projects/gamma'));
    expect([blocked.code, blocked.details]).toEqual([
      'CONFLICT',
      { containers: 0, images: 0, volumes: 1, tokens: 0, runs: 0, schedules: 0 },
    ]);
    await fleet.admin.delete('/volumes/keep?project=gamma');
    await fleet.admin.delete('/projects/gamma');
  });

  it('refuses sizeBytes where the data directory keeps no project quotas, and leaves nothing behind', async () => {
    const err = await refusal(alpha.post('/volumes', { name: 'limited', sizeBytes: 64 * 1024 * 1024 }));
    expect([err.status, err.code]).toEqual([400, 'INVALID_INPUT']);
    expect(err.message).toMatch(/cannot limit a volume's size: the data directory is on .*(prjquota|project quotas)/);
    expect(await fleet.db.pool.query(`SELECT 1 FROM volume WHERE name = 'limited'`).then((r) => r.rowCount)).toBe(0);
    expect(existsSync(join(fleet.base.dataDir, 'volumes', 'alpha'))).toBe(true);
    expect((await alpha.get<{ volumes: VolumeView[] }>('/volumes')).volumes.map((v) => v.name)).toEqual(['data']);
  });

  it('refuses mount paths that are not plain absolute paths, twice the same target, and more than 32 mounts', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [[{ volume: 'data', path: 'data' }], /absolute/],
      [[{ volume: 'data', path: '/' }], /cannot be \/ itself/],
      [[{ volume: 'data', path: '/a/../etc' }], /normalised/],
      [[{ volume: 'data', path: '/a//b' }], /normalised/],
      [[{ volume: 'data', path: '/a/' }], /normalised/],
      [[{ volume: 'data', path: '/proc/sys' }], /\/proc/],
      [[{ volume: 'data', path: '/dev' }], /\/dev/],
      [
        [
          { volume: 'data', path: '/x' },
          { volume: 'data', path: '/x' },
        ],
        /same path/,
      ],
      [Array.from({ length: 33 }, (_, i) => ({ volume: 'data', path: `/m${i}` })), /32/],
      [[{ volume: 'data', path: '/x', shift: true }], /./],
    ];
    for (const [mounts, message] of bad) {
      const err = await refusal(alpha.post('/containers', { name: 'bad', image: 'busybox', mounts }));
      expect([err.code, JSON.stringify(err.details ?? err.message)], JSON.stringify(mounts).slice(0, 80)).toEqual([
        'INVALID_INPUT',
        expect.stringMatching(message),
      ]);
    }
  });

  it('gives 403 to a token that is not an admin of every project asking for a host path, and refuses dangerous host paths', async () => {
    const alphaAdmin = await token('alpha-admin', 'admin', 'alpha');
    for (const client of [alpha, alphaAdmin]) {
      const err = await refusal(client.post('/containers', { name: 'hp', image: 'busybox', mounts: [{ hostPath: '/srv', path: '/srv' }] }));
      expect([err.status, err.code]).toEqual([403, 'FORBIDDEN']);
    }
    for (const hostPath of [
      '/',
      '/proc',
      '/sys/kernel',
      '/dev/shm',
      fleet.base.dataDir,
      join(fleet.base.dataDir, 'secrets'),
      '/tmp/../etc',
    ]) {
      const err = await refusal(fleet.admin.post('/containers', { name: 'hp', image: 'busybox', mounts: [{ hostPath, path: '/h' }] }));
      expect(err.code, hostPath).toBe('INVALID_INPUT');
    }
    // an ancestor of the data directory holds it
    const parent = join(fleet.base.dataDir, '..');
    const err = await refusal(
      fleet.admin.post('/containers', { name: 'hp', image: 'busybox', mounts: [{ hostPath: parent, path: '/h' }] }),
    );
    expect(err.message).toMatch(/data directory/);
  });

  it('places a container that mounts a volume on its node, and refuses a pin to another node with CONFLICT', async () => {
    await fleet.addWorker('node-b');
    const err = await refusal(
      alpha.post('/containers', { name: 'pinned', image: 'busybox', node: 'node-b', mounts: [{ volume: 'data', path: '/data' }] }),
    );
    expect([err.status, err.code]).toEqual([409, 'CONFLICT']);
    expect(err.message).toMatch(/mounts a volume of node node-a, so it runs there; it cannot be placed on node node-b/);
    const onB = await alpha.post<VolumeView>('/volumes', { name: 'on-b', node: 'node-b' });
    expect(onB.node).toBe('node-b');
    const two = await refusal(
      alpha.post('/containers', {
        name: 'two',
        image: 'busybox',
        mounts: [
          { volume: 'data', path: '/a' },
          { volume: 'on-b', path: '/b' },
        ],
      }),
    );
    expect([two.code, two.message]).toEqual(['CONFLICT', expect.stringMatching(/must be on one node/)]);
    // without a pin: placed where the volume is, several times over (never the least loaded node by chance)
    for (const i of [1, 2, 3]) {
      const { container } = await alpha.post<{ container: ContainerView }>('/containers', {
        name: `user-b${i}`,
        image: 'busybox',
        mounts: [{ volume: 'on-b', path: '/b', readOnly: true }],
      });
      expect(container.node).toBe('node-b');
      expect(container.mounts).toEqual([{ volume: 'on-b', path: '/b', readOnly: true }]);
    }
    const shown = await alpha.get<VolumeView>('/volumes/on-b');
    expect(shown.mountedBy.map((u) => [u.container, u.path, u.readOnly])).toEqual([
      ['user-b1', '/b', true],
      ['user-b2', '/b', true],
      ['user-b3', '/b', true],
    ]);
    // mounted: its delete is refused, naming who mounts it
    const busy = await refusal(alpha.delete('/volumes/on-b'));
    expect([busy.status, busy.code, busy.message]).toEqual([
      409,
      'CONFLICT',
      'volume on-b is mounted by containers user-b1, user-b2, user-b3',
    ]);
    // evacuating its node moves stopped containers elsewhere, but not one that mounts a volume there
    await eventually(async () => ((await alpha.get<ContainerView>('/containers/user-b1')).state === 'running' ? true : undefined), 30_000);
    await alpha.post('/containers/user-b1/stop');
    await eventually(async () => ((await alpha.get<ContainerView>('/containers/user-b1')).state === 'stopped' ? true : undefined), 30_000);
    const evacuated = await fleet.admin.post<{ moved: Array<{ name: string }> }>('/nodes/node-b/evacuate');
    expect(evacuated.moved.map((m) => m.name)).not.toContain('user-b1');
    expect((await alpha.get<ContainerView>('/containers/user-b1')).node).toBe('node-b');
    for (const i of [1, 2, 3]) await alpha.delete(`/containers/user-b${i}?force=1`);
    await eventuallyGone(['user-b1', 'user-b2', 'user-b3']);
    const deleted = await alpha.delete<{ deleted: string; directoryRemoved: boolean }>('/volumes/on-b');
    expect(deleted).toEqual({ deleted: 'on-b', directoryRemoved: true });
    expect(existsSync(dirOf(onB))).toBe(false);
  }, 90_000);

  it('never lets a create and a delete of the same volume both win', async () => {
    for (let round = 0; round < 5; round++) {
      await alpha.post('/volumes', { name: 'raced' });
      const [created, deleted] = await Promise.allSettled([
        alpha.post('/containers', { name: 'racer', image: 'busybox', mounts: [{ volume: 'raced', path: '/r' }] }),
        alpha.delete('/volumes/raced'),
      ]);
      // exactly one wins: the container and the volume never end up apart
      expect([created.status, deleted.status].filter((s) => s === 'fulfilled')).toHaveLength(1);
      const rows = await fleet.db.pool.query(
        `SELECT c.mounts->0->>'volumeId' AS v FROM container c WHERE c.project = 'alpha' AND c.name = 'racer'`,
      );
      const volumes = await fleet.db.pool.query(`SELECT id::text FROM volume WHERE project = 'alpha' AND name = 'raced'`);
      if (created.status === 'fulfilled') {
        expect(rows.rows[0]?.v).toBe(volumes.rows[0]?.id);
        await alpha.delete('/containers/racer?force=1');
        await eventuallyGone(['racer']);
        await alpha.delete('/volumes/raced');
      } else {
        expect(rows.rowCount).toBe(0);
        expect(volumes.rowCount).toBe(0);
      }
    }
  }, 90_000);

  it('reconciles: removes a volume directory with no row after the grace, and reports a row whose directory is missing', async () => {
    const worker = fleet.api.worker!;
    const orphan = join(fleet.base.dataDir, 'volumes', 'alpha', randomUUID());
    mkdirSync(orphan);
    const young = await worker.reconciler.run();
    expect(existsSync(orphan)).toBe(true); // within the grace: a create may be about to record it
    expect(young.orphanVolumes).toBe(0);
    await new Promise((r) => setTimeout(r, 2500));
    const report = await worker.reconciler.run();
    expect(existsSync(orphan)).toBe(false);
    expect(report.orphanVolumes).toBeGreaterThanOrEqual(0); // the periodic pass may have removed it first
    // a recorded volume's directory is never taken for an orphan
    const data = await alpha.get<VolumeView>('/volumes/data');
    expect(existsSync(dirOf(data))).toBe(true);

    const lost = await alpha.post<VolumeView>('/volumes', { name: 'lost-dir', node: 'node-a' });
    await new Promise((r) => setTimeout(r, 2500)); // past the grace of a young row
    (await import('node:fs')).rmSync(dirOf(lost), { recursive: true });
    expect((await worker.reconciler.run()).missingVolumes).toBe(1);
    expect((await alpha.get<VolumeView>('/volumes/lost-dir')).usedBytes).toBeNull();
    await alpha.delete('/volumes/lost-dir');
    expect((await worker.reconciler.run()).missingVolumes).toBe(0);
  }, 30_000);

  it('deletes a volume of a node that is away at once, and the directory goes once a reconciler sees it has no row', async () => {
    const worker = await fleet.addWorker('node-c');
    const away = await alpha.post<VolumeView>('/volumes', { name: 'away', node: 'node-c' });
    expect(existsSync(dirOf(away))).toBe(true);
    await worker.close(); // the node says it is offline
    const started = Date.now();
    expect(await alpha.delete('/volumes/away')).toEqual({ deleted: 'away', directoryRemoved: false });
    expect(Date.now() - started).toBeLessThan(5000); // no wait for a node that is not there
    expect((await refusal(alpha.get('/volumes/away'))).code).toBe('NOT_FOUND');
    // the test's nodes share one data directory: node-a's reconciler finds the orphan after the grace
    await eventually(async () => (existsSync(dirOf(away)) ? undefined : true), 15_000, 'the orphan directory removed');
  }, 30_000);
});

async function eventuallyGone(names: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { containers } = await alpha.get<{ containers: ContainerView[] }>('/containers');
    if (!containers.some((c) => names.includes(c.name))) return;
    if (Date.now() > deadline) throw new Error(`${names.join(', ')} still there`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
