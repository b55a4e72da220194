// A fleet that shares images through its registry: an image imported on node-a is pushed to a
// real registry (htpasswd), and node-b, a worker with a data directory of its own, fetches it by
// digest before launching: one pull for eight launches at once. node-c has no registry: its
// launch fails with IMAGE_UNAVAILABLE, not INTERNAL.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerView, ImageView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../src/images/image-store';
import { startNagaya } from '../src/nagaya-server';
import { Db } from '../src/store/db';
import { RegistryAuth } from '../src/registry/registry-auth';
import { RegistryClient } from '../src/registry/registry-client';
import { busyboxImage, ociLayoutTar, type FixtureImage } from '../../native/test/support/oci-fixtures';
import { startLocalRegistry, type LocalRegistry } from './support/local-registry';
import { ADMIN_TOKEN, eventually, startTestFleet, waitRunning, type TestFleet } from './support/test-server';

let registry: LocalRegistry;
let fleet: TestFleet;
let image: FixtureImage;
const otherDirs: string[] = [];

async function addNode(nodeName: string, env: Record<string, string | undefined> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), `nagaya-${nodeName}-`));
  otherDirs.push(dataDir);
  const worker = await startNagaya({ ...fleet.base, ...env, role: 'worker', nodeName, dataDir });
  fleet.workers.push(worker);
  return worker;
}

beforeAll(async () => {
  registry = await startLocalRegistry('basic');
  const { username, password } = registry.credentials!;
  fleet = await startTestFleet({ slices: 24, env: { NAGAYA_REGISTRY_URL: `http://${username}:${password}@${registry.host}` } });
  image = busyboxImage('shared through the registry\n', { Cmd: ['/bin/busybox', 'sleep', '1000'] });
  await addNode('node-b');
  await addNode('node-c', { registryUrl: undefined });
}, 90_000);

afterAll(async () => {
  await fleet?.stop();
  await registry?.stop();
  for (const dir of otherDirs) rmSync(dir, { recursive: true, force: true });
});

describe('images shared through the fleet registry', () => {
  it('pushes an import to the registry under nagaya/<project>/<name>:<tag>', async () => {
    const res = await fetch(`${fleet.url}/api/v1/images?name=web:v1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/x-tar' },
      body: ociLayoutTar(image),
    });
    expect(res.status).toBe(201);
    const client = new RegistryClient(registry.url, new RegistryAuth(registry.credentials));
    expect((await client.manifest('nagaya/default/web', 'v1')).digest).toBe(image.manifestDigest);
    for (const l of image.layers) expect(await client.hasBlob('nagaya/default/web', l.digest)).toBe(true);
  });

  it('lets a node without the image fetch it once for eight launches at once, then run them all', async () => {
    const before = registry.requests().length;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        fleet.admin.post('/containers', { name: `b${i}`, image: 'web:v1', node: 'node-b', network: { mode: 'none' } }),
      ),
    );
    for (let i = 0; i < 8; i++) {
      const c = await waitRunning<ContainerView>(fleet, `b${i}`);
      expect(c.node).toBe('node-b');
    }
    const out = await fleet.admin.post<{ stdout: string }>('/containers/b0/exec', { command: ['/bin/busybox', 'cat', '/etc/motd'] });
    expect(out.stdout).toBe('shared through the registry\n');
    const layerGets = registry
      .requests()
      .slice(before)
      .filter((r) => r.startsWith('GET ') && image.layers.some((l) => r.endsWith(`/blobs/${l.digest}`)));
    expect(layerGets).toHaveLength(image.layers.length);
    const view = await fleet.admin.get<ImageView>('/images/web:v1');
    expect(view.nodes).toEqual(['node-a', 'node-b']);
  });

  it('fails a launch on a node that cannot get the image with IMAGE_UNAVAILABLE', async () => {
    await fleet.admin.post('/containers', { name: 'c0', image: 'web:v1', node: 'node-c', network: { mode: 'none' } });
    const failed = await eventually(async () => {
      const c = await fleet.admin.get<ContainerView>('/containers/c0');
      return c.state === 'failed' ? c : undefined;
    }, 60_000);
    expect(failed.error).toMatchObject({ code: 'IMAGE_UNAVAILABLE', message: expect.stringMatching(/no registry.*node-a, node-b/) });
  });
});

describe('layers on a node after their image is deleted elsewhere', () => {
  it("are removed by that node's reconciler pass", async () => {
    for (let i = 0; i < 8; i++) {
      const { job } = await fleet.admin.post<{ job: { id: string } }>(`/containers/b${i}/stop`, { timeoutSeconds: 0 });
      await fleet.admin.waitForJob(job.id);
      await fleet.admin.delete(`/containers/b${i}?force=1`);
    }
    await fleet.admin.delete('/containers/c0?force=1');
    await eventually(
      async () => ((await fleet.admin.get<{ containers: unknown[] }>('/containers')).containers.length === 0 ? true : undefined),
      30_000,
    );
    const deleted = await fleet.admin.delete<{ removedLayers: string[] }>('/images/web:v1');
    expect(deleted.removedLayers.sort()).toEqual(image.layers.map((l) => l.diffId).sort());
    // node-b still has its copy until its reconciler looks (here at once: no grace)
    const db = new Db(fleet.db.url, 2);
    try {
      const storeB = new ImageStore(otherDirs[0]!, { maxBytes: 1 << 30, maxEntries: 1000, maxDepth: 64 }, db, { node: 'node-b' });
      const layerDir = (d: string) => storeB.layerPath(d);
      expect(image.layers.every((l) => existsSync(layerDir(l.diffId)))).toBe(true);
      expect(await storeB.reconcileLayers(0)).toMatchObject({ removed: image.layers.length });
      expect(image.layers.some((l) => existsSync(layerDir(l.diffId)))).toBe(false);
      // a second pass finds nothing more to do
      expect(await storeB.reconcileLayers(0)).toEqual({ removed: 0, recorded: 0, forgotten: 0 });
    } finally {
      await db.close();
    }
  });
});
