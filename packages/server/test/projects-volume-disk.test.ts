import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiError, ProjectView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawTar } from '../../native/test/support/raw-tar';
import { VolumeStore } from '../src/store/volume-store';
import { startTestFleet, type TestFleet } from './support/test-server';
import { rawRequest, refusal } from './support/test-helpers';
import { countRows, projectToken } from './support/project-helpers';

// diskBytes covers volumes as LXD's limits.disk does: under the quota every volume is sized, and
// sized volumes count beside images, in the INSERT that records the volume (trigger volume_quota).
// This machine's data directory keeps no filesystem project quotas, so the API refuses sizeBytes
// before a row is written: the counting is shown through VolumeStore, the way the API records one.

const MiB = 1024 * 1024;
let fleet: TestFleet;
let volumes: VolumeStore;
let quotaIds = 1_900_000_000;

/** Records a volume row as VolumeService does once its node made the directory. */
const record = (project: string, name: string, sizeBytes: number | null) =>
  volumes.create({ id: randomUUID(), project, name, node: 'node-a', sizeBytes, quotaId: sizeBytes === null ? null : quotaIds++ });

const diskUse = async (project: string) => (await fleet.admin.get<ProjectView>(`/projects/${project}`)).quotas.diskBytes;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 8 });
  volumes = new VolumeStore(fleet.api.db);
}, 60_000);
afterAll(async () => {
  const { rows } = await fleet.db.pool.query(
    `SELECT r.project FROM project_usage_recount r JOIN project_usage u USING (project) WHERE r.disk_bytes <> u.disk_bytes`,
  );
  expect(rows).toEqual([]);
  await fleet?.stop();
});

describe('the diskBytes quota and volumes', () => {
  it('refuses a volume without sizeBytes in a project with a diskBytes quota, and leaves nothing behind', async () => {
    await fleet.admin.post('/projects', { name: 'vdisk', quotas: { diskBytes: 64 * MiB } });
    const op = await projectToken(fleet, 'vdisk-op', 'operator', 'vdisk');
    const err = await refusal(op.post('/volumes', { name: 'unsized' }));
    expect([err.status, err.code]).toEqual([400, 'INVALID_INPUT']);
    expect(err.message).toBe('project vdisk has a diskBytes quota, so every volume must set sizeBytes');
    expect(err.details).toMatchObject({ field: 'sizeBytes', quota: 'diskBytes' });
    expect(await countRows(fleet, "SELECT count(*) AS n FROM volume WHERE project = 'vdisk'")).toBe(0);
    const dir = join(fleet.base.dataDir, 'volumes', 'vdisk');
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    // sized, it is refused here for the filesystem (no prjquota), never taken unsized
    const sized = await refusal(op.post('/volumes', { name: 'sized', sizeBytes: 16 * MiB }));
    expect(sized.code).toBe('INVALID_INPUT');
    expect(sized.message).toMatch(/cannot limit a volume's size/);
    // without the quota an unsized volume is taken as before
    await fleet.admin.patch('/projects/vdisk', { quotas: { diskBytes: null } });
    await op.post('/volumes', { name: 'unsized' });
    expect((await diskUse('vdisk')).used).toBe(0);
    await op.delete('/volumes/unsized');
  });

  it('counts sized volumes into diskBytes, beside images, and gives their size back when they go', async () => {
    await fleet.admin.post('/projects', { name: 'vsum', quotas: { diskBytes: 10_000 } });
    await record('vsum', 'a', 5000);
    expect(await diskUse('vsum')).toEqual({ limit: 10_000, used: 5000 });
    const over = await record('vsum', 'b', 5001).then(
      () => undefined,
      (e: ApiError) => e,
    );
    expect([over?.code, over?.details]).toEqual([
      'QUOTA_EXCEEDED',
      { project: 'vsum', quota: 'diskBytes', limit: 10_000, used: 5000, requested: 5001 },
    ]);
    expect(over?.message).toMatch(/this volume needs 5001 more/);
    // an image (a tar of 4608 bytes) fits beside the volume; a second no longer does
    const op = await projectToken(fleet, 'vsum-op', 'operator', 'vsum');
    const upload = (name: string) =>
      rawRequest(`${fleet.url}/api/v1/images?name=${name}`, 'POST', {
        token: op.token!,
        body: rawTar([{ name: 'blob', body: Buffer.alloc(3000, 7) }]),
        headers: { 'content-type': 'application/x-tar' },
      });
    expect((await upload('one')).status).toBe(201);
    const second = await upload('two');
    expect([second.status, second.body.error.details]).toEqual([
      403,
      { project: 'vsum', quota: 'diskBytes', limit: 10_000, used: 9608, requested: 4608 },
    ]);
    expect((await record('vsum', 'b', 392)).sizeBytes).toBe(392); // exactly at the limit is within it
    await volumes.delete('vsum', 'a');
    expect((await diskUse('vsum')).used).toBe(5000);
    await volumes.delete('vsum', 'b');
    expect((await diskUse('vsum')).used).toBe(4608);
  });

  it('16 concurrent volume records of 1 MiB against diskBytes 10 MiB: exactly 10 rows', async () => {
    await fleet.admin.post('/projects', { name: 'vcrowd', quotas: { diskBytes: 10 * MiB } });
    const outcomes = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => record('vcrowd', `v${i}`, MiB)));
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as ApiError).code] : []));
    expect(refused).toEqual(Array(6).fill('QUOTA_EXCEEDED'));
    expect(await countRows(fleet, "SELECT count(*) AS n FROM volume WHERE project = 'vcrowd'")).toBe(10);
    expect(await diskUse('vcrowd')).toEqual({ limit: 10 * MiB, used: 10 * MiB });
  });
});
