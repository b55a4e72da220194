import { readFileSync } from 'node:fs';
import type { ApiError } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../src/cli/api-client';
import { rawTar } from '../../native/test/support/raw-tar';
import { startTestFleet, type TestFleet } from './support/test-server';
import { rawRequest, refusal } from './support/test-helpers';
import { countRows, eventuallyRunning, projectToken } from './support/project-helpers';

// More of the wall between projects (projects.test.ts has the rest): files, env and images of
// another project answer exactly as missing ones do, and a project's admin manages nothing of
// the fleet.

let fleet: TestFleet;
let alpha: ApiClient;
let beta: ApiClient;
let alphaAdmin: ApiClient;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 16 });
  await fleet.admin.post('/projects', { name: 'alpha' });
  await fleet.admin.post('/projects', { name: 'beta' });
  alpha = await projectToken(fleet, 'alpha-op', 'operator', 'alpha');
  beta = await projectToken(fleet, 'beta-op', 'operator', 'beta');
  alphaAdmin = await projectToken(fleet, 'alpha-admin', 'admin', 'alpha');
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
});

/** The refusal of `call(name)` for another project's `name`, and for a name nowhere, side by side (the names masked). */
async function bothRefusals(call: (name: string) => Promise<unknown>, theirs: string, missing: string) {
  const shape = (e: ApiError, name: string) => [
    e.status,
    e.code,
    e.message.replaceAll(name, 'X'),
    JSON.stringify(e.details ?? null).replaceAll(name, 'X'),
  ];
  return [shape(await refusal(call(theirs)), theirs), shape(await refusal(call(missing)), missing)];
}

/** An image of busybox and a file /marker holding `marker`, uploaded by `client` as `name`. */
async function uploadMarked(client: ApiClient, name: string, marker: string) {
  const upload = await rawRequest(`${fleet.url}/api/v1/images?name=${name}`, 'POST', {
    token: client.token!,
    body: rawTar([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', body: readFileSync('/bin/busybox'), mode: 0o755 },
      { name: 'marker', body: Buffer.from(marker) },
    ]),
    headers: { 'content-type': 'application/x-tar' },
  });
  expect(upload.status).toBe(201);
  return upload.body as { project: string; name: string; digest: string };
}

describe('files and env across projects', () => {
  it("answers another project's container files GET/PUT and env with 404, exactly as a missing container, and changes nothing", async () => {
    await beta.post('/containers', { name: 'vault', image: 'busybox' });
    await eventuallyRunning(beta, 'vault');
    await beta.putBytes('/containers/vault/files?path=/tmp/secret', Buffer.from('beta only'));

    const calls: Array<[string, (name: string) => Promise<unknown>]> = [
      ['files GET', (name) => alpha.getBytes(`/containers/${name}/files?path=/tmp/secret`)],
      ['files PUT', (name) => alpha.putBytes(`/containers/${name}/files?path=/tmp/secret`, Buffer.from('alpha was here'))],
      ['env', (name) => alpha.get(`/containers/${name}/env`)],
      ['files GET ?project=beta', (name) => alpha.getBytes(`/containers/${name}/files?path=/tmp/secret&project=beta`)],
    ];
    for (const [what, call] of calls) {
      const [theirs, missing] = await bothRefusals(call, 'vault', 'nosuch');
      expect([what, theirs![0], theirs![1]]).toEqual([what, 404, 'NOT_FOUND']);
      expect([what, theirs]).toEqual([what, missing]);
    }
    expect((await beta.getBytes('/containers/vault/files?path=/tmp/secret')).data.toString()).toBe('beta only');
    expect(await beta.get('/containers/vault/env')).toBeTruthy();
  });
});

describe('images across projects', () => {
  it("answers beta's GET and DELETE of alpha's image with 404, exactly as a missing image, and alpha keeps it", async () => {
    const mine = await uploadMarked(alpha, 'tools', 'alpha');
    for (const call of [(name: string) => beta.get(`/images/${name}`), (name: string) => beta.delete(`/images/${name}`)]) {
      const [theirs, missing] = await bothRefusals(call, 'tools', 'nosuchimage');
      expect([theirs![0], theirs![1]]).toEqual([404, 'NOT_FOUND']);
      expect(theirs).toEqual(missing);
    }
    expect((await alpha.get<{ digest: string }>('/images/tools')).digest).toBe(mine.digest);
    expect(await countRows(fleet, "SELECT count(*) AS n FROM image WHERE project = 'alpha' AND name = 'tools'")).toBe(1);
  });

  it('lets two projects hold an image of the same name, each listing and launching its own', async () => {
    const theirs = await uploadMarked(beta, 'tools', 'beta');
    const mine = await alpha.get<{ digest: string }>('/images/tools');
    expect(theirs.digest).not.toBe(mine.digest);
    const listed = async (c: ApiClient) =>
      (await c.get<{ images: Array<{ project: string; name: string; digest: string }> }>('/images')).images.filter(
        (i) => i.name === 'tools',
      );
    expect(await listed(alpha)).toMatchObject([{ project: 'alpha', digest: mine.digest }]);
    expect(await listed(beta)).toMatchObject([{ project: 'beta', digest: theirs.digest }]);
    for (const [client, marker] of [
      [alpha, 'alpha'],
      [beta, 'beta'],
    ] as const) {
      await client.post('/containers', { name: 'marked', image: 'tools', command: ['/bin/busybox', 'sleep', '600'] });
      await eventuallyRunning(client, 'marked');
      const out = await client.post<{ exitCode: number; stdout: string }>('/containers/marked/exec', {
        command: ['/bin/busybox', 'cat', '/marker'],
      });
      expect([out.exitCode, out.stdout]).toEqual([0, marker]);
    }
  });
});

describe("a project's admin and the fleet", () => {
  it('is FORBIDDEN to evacuate or remove nodes, manage pools or manage projects, and changes nothing', async () => {
    for (const [what, call] of [
      ['evacuate', () => alphaAdmin.post('/nodes/node-a/evacuate')],
      ['remove', () => alphaAdmin.post('/nodes/node-a/remove')],
      [
        'pool create',
        () => alphaAdmin.post('/pools', { name: 'mine', uid: { start: 100000, count: 65536 }, gid: { start: 100000, count: 65536 } }),
      ],
      ['project create', () => alphaAdmin.post('/projects', { name: 'gamma' })],
      ['own project patch', () => alphaAdmin.request('PATCH', '/projects/alpha', { quotas: { containers: 1000 } })],
      ['own project delete', () => alphaAdmin.delete('/projects/alpha')],
      ['other project delete', () => alphaAdmin.delete('/projects/beta')],
    ] as const) {
      const err = await refusal(call());
      expect([what, err.status, err.code]).toEqual([what, 403, 'FORBIDDEN']);
    }
    const { nodes } = await fleet.admin.get<{ nodes: Array<{ name: string; status: string }> }>('/nodes');
    expect(nodes.map((n) => [n.name, n.status])).toEqual([['node-a', 'active']]);
    expect(await countRows(fleet, "SELECT count(*) AS n FROM project WHERE name IN ('alpha', 'beta', 'gamma')")).toBe(2);
    expect(await countRows(fleet, "SELECT count(*) AS n FROM id_pool WHERE name = 'mine'")).toBe(0);
    expect(
      (await fleet.admin.get<{ quotas: { containers: { limit: number | null } } }>('/projects/alpha')).quotas.containers.limit,
    ).toBeNull();
  });
});
