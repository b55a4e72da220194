// OCI images through the API, as a user meets them: an image of three layers (a whiteout, an
// opaque directory, a setuid file, a config with Entrypoint, Cmd, Env, WorkingDir and User) is
// imported as an OCI layout, a legacy docker save and a Docker 25 save; containers run it with the
// config's defaults or with overrides; deletes keep what is in use and shared.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, type ContainerView, type ImageView, type ProjectView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  docker25Tar,
  dockerSaveTar,
  imageWithConfig,
  layerOf,
  ociLayoutTar,
  sha256,
  type FixtureImage,
} from '../../native/test/support/oci-fixtures';
import { ADMIN_TOKEN, startTestFleet, waitRunning, type TestFleet } from './support/test-server';

let fleet: TestFleet;
let image: FixtureImage;

const busybox = readFileSync('/bin/busybox');
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\napp:x:1000:\nstaff:x:50:\n';

beforeAll(async () => {
  image = buildImage(
    [
      layerOf([
        { name: 'bin/', type: 'directory', mode: 0o755 },
        { name: 'bin/busybox', body: busybox, mode: 0o755 },
        { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
        { name: 'etc/', type: 'directory', mode: 0o755 },
        { name: 'etc/passwd', body: PASSWD },
        { name: 'etc/group', body: GROUP },
        { name: 'opt/', type: 'directory', mode: 0o755 },
        { name: 'opt/old-1', body: 'from layer 1\n' },
        { name: 'opt/old-2', body: 'from layer 1\n' },
        { name: 'gone', body: 'whited out by layer 2\n' },
      ]),
      layerOf(
        [
          { name: '.wh.gone', body: '' },
          { name: 'opt/', type: 'directory', mode: 0o755 },
          { name: 'opt/new', body: 'from layer 2\n' },
          { name: 'opt/.wh..wh..opq', body: '' },
          { name: 'bin/', type: 'directory', mode: 0o755 },
          { name: 'bin/suid', body: busybox, mode: 0o4755, uid: 0, gid: 0 },
        ],
        'zstd',
      ),
      layerOf(
        [
          { name: 'etc/', type: 'directory', mode: 0o755 },
          { name: 'etc/motd', body: 'layer 3\n' },
        ],
        'none',
      ),
    ],
    {
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo "started as $(id -u):$(id -g) in $(pwd) with $GREETING"; exec sleep 1000'],
      Env: ['GREETING=hello', 'PATH=/bin'],
      WorkingDir: '/opt',
      User: 'app',
    },
  );
  fleet = await startTestFleet({ slices: 16, env: { NAGAYA_IMAGE_UPLOAD_LIMIT_BYTES: String(64 * 1024 * 1024) } });
}, 60_000);
afterAll(async () => fleet?.stop());

async function upload(
  name: string,
  body: Buffer,
  project?: string,
): Promise<{ status: number; body: ImageView & { error?: { code: string; message: string } } }> {
  const inProject = project ? `&project=${encodeURIComponent(project)}` : '';
  const res = await fetch(`${fleet.url}/api/v1/images?name=${encodeURIComponent(name)}${inProject}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/x-tar' },
    body,
  });
  return { status: res.status, body: (await res.json()) as ImageView & { error?: { code: string; message: string } } };
}

const logOf = async (name: string) => (await fleet.admin.get<{ log: string }>(`/containers/${name}/logs`)).log;
const layerStore = () => join(fleet.base.dataDir, 'images', '.oci', 'layers', 'sha256');
const packedStore = () => join(fleet.base.dataDir, 'images', '.oci', 'packed');
const packedNames = () => (existsSync(packedStore()) ? readdirSync(packedStore()).sort() : []);
const exec = async (name: string, script: string) =>
  (
    await fleet.admin.post<{ stdout: string; stderr: string; exitCode: number }>(`/containers/${name}/exec`, {
      command: ['/bin/sh', '-c', script],
    })
  ).stdout;

describe('OCI images through the API', () => {
  it('imports an OCI layout of three layers (gzip, zstd, plain) and shows its layers, defaults and node', async () => {
    const res = await upload('app:1', ociLayoutTar(image));
    expect(res.status).toBe(201);
    // the import answers once the blobs are verified and kept: each layer counts its blob's bytes
    expect(res.body).toMatchObject({
      name: 'app:1',
      format: 'oci-layout',
      digest: image.manifestDigest,
      layers: image.layers.map((l) => ({ diffId: l.diffId, sizeBytes: l.blob.length })),
      config: { entrypoint: ['/bin/sh', '-c'], workingDir: '/opt', user: 'app', env: ['GREETING=hello', 'PATH=/bin'] },
      nodes: ['node-a'],
    });
    expect((await fleet.admin.get<ImageView>('/images/app:1')).digest).toBe(image.manifestDigest);
    // then the layers unpack in the background, each once, and their packed blobs go; whiteouts
    // as overlay wants them, no .wh. file anywhere
    await expect.poll(() => packedNames(), { timeout: 10_000 }).toEqual([]);
    expect(readdirSync(layerStore()).sort()).toEqual(image.layers.map((l) => l.diffId.slice(7)).sort());
    // the user names were read from the unpacked layers
    const { rows } = await fleet.db.pool.query<{ config: Record<string, unknown> }>(
      "SELECT config FROM image WHERE project = 'default' AND name = 'app:1'",
    );
    expect(rows[0]!.config).toMatchObject({ passwd: { root: [0, 0], app: [1000, 1000] }, groups: { staff: 50 } });
    expect(rows[0]!.config).not.toHaveProperty('identitiesPending');
    // and the sizes are the unpacked ones, as an eager import records them; the project's disk use follows
    const unpackedSizes = image.layers.map((l) => ({ diffId: l.diffId, sizeBytes: l.tar.length }));
    const total = image.layers.reduce((sum, l) => sum + l.tar.length, 0);
    await expect.poll(async () => (await fleet.admin.get<ImageView>('/images/app:1')).layers, { timeout: 10_000 }).toEqual(unpackedSizes);
    expect((await fleet.admin.get<ImageView>('/images/app:1')).sizeBytes).toBe(total);
    const recount = await fleet.db.pool.query<{ counted: string; actual: string }>(
      `SELECT u.disk_bytes AS counted, r.disk_bytes AS actual FROM project_usage u JOIN project_usage_recount r USING (project)
        WHERE u.project = 'default'`,
    );
    expect(Number(recount.rows[0]!.counted)).toBe(Number(recount.rows[0]!.actual));
    const layer2 = join(layerStore(), image.layers[1]!.diffId.slice(7));
    expect(readdirSync(layer2).some((n) => n.startsWith('.wh.'))).toBe(false);
  });

  it("runs the image's Entrypoint + Cmd as its User, in its WorkingDir, with its Env, over the stacked layers", async () => {
    await fleet.admin.post('/containers', { name: 'plain', image: 'app:1' });
    const c = await waitRunning<ContainerView>(fleet, 'plain');
    expect(c.command).toEqual(['/bin/sh', '-c', image && expect.stringContaining('started as')]);
    // the init: the image's user, with no capabilities
    const status = await exec('plain', 'grep -E "^(Uid|Gid|CapEff)" /proc/1/status');
    expect(status).toMatch(/Uid:\s+1000\s+1000\s+1000\s+1000/);
    expect(status).toMatch(/Gid:\s+1000\s+1000/);
    expect(status).toMatch(/CapEff:\s+0000000000000000/);
    // an exec runs as the container's first process does: its user, directory and environment
    expect(await exec('plain', 'echo $(id -u):$(id -g) $(pwd) $GREETING')).toBe('1000:1000 /opt hello\n');
    await expect.poll(() => logOf('plain')).toContain('started as 1000:1000 in /opt with hello');
    // the layers stacked: layer 2's whiteout and opaque dir, layer 3 on top, a setuid file owned by the container's root
    const tree = await exec('plain', 'ls /opt; test -e /gone && echo gone-visible; cat /etc/motd; stat -c "%u %a" /bin/suid');
    expect(tree.split('\n')).toEqual(['new', 'layer 3', '0 4755', '']);
  });

  it('lets the create override the command, entrypoint, user, working directory and environment', async () => {
    await fleet.admin.post('/containers', {
      name: 'over',
      image: 'app:1',
      command: ['echo "over as $(id -u):$(id -g) in $(pwd) with $GREETING"; exec sleep 1000'],
      user: '0:50',
      workingDir: '/etc',
      env: { GREETING: 'overridden' },
    });
    await waitRunning<ContainerView>(fleet, 'over');
    await expect.poll(() => logOf('over')).toContain('over as 0:50 in /etc with overridden');
    await fleet.admin.post('/containers', { name: 'entry', image: 'app:1', entrypoint: ['/bin/busybox', 'sleep'], command: ['1000'] });
    expect((await waitRunning<ContainerView>(fleet, 'entry')).command).toEqual(['/bin/busybox', 'sleep', '1000']);
    // names the image does not have, and an entrypoint it does not have
    const refused = await fleet.admin.post('/containers', { name: 'nobody', image: 'app:1', user: 'nobody' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).code).toBe('INVALID_INPUT');
    expect((refused as ApiError).message).toMatch(/no such user/);
    const missing = await fleet.admin.post<{ job: { id: string } }>('/containers', {
      name: 'noentry',
      image: 'app:1',
      entrypoint: ['/docker-entrypoint.sh'],
    });
    expect((await fleet.admin.waitForJob(missing.job.id, 30_000)).state).toBe('failed');
    const failed = await fleet.admin.get<ContainerView>('/containers/noentry');
    expect(failed.error?.message).toMatch(/cannot run "\/docker-entrypoint.sh": not found in the image/);
  });

  it('takes the same image as a legacy docker save and a Docker 25 save: the same layers, unpacked once', async () => {
    const before = readdirSync(layerStore()).sort();
    const legacy = await upload('app-legacy', dockerSaveTar(image));
    expect(legacy.status).toBe(201);
    expect(legacy.body.format).toBe('docker-save');
    const docker25 = await upload('app-25', docker25Tar(image));
    expect(docker25.status).toBe(201);
    expect(docker25.body.format).toBe('docker-save-oci');
    for (const b of [legacy.body, docker25.body]) expect(b.layers.map((l) => l.diffId)).toEqual(image.layers.map((l) => l.diffId));
    expect(readdirSync(layerStore()).sort()).toEqual(before);
  });

  it('refuses to delete an image in use; keeps shared layers until their last image is gone', async () => {
    const inUse = await fleet.admin.delete('/images/app:1').catch((e: unknown) => e);
    expect((inUse as ApiError).code).toBe('CONFLICT');
    expect((inUse as ApiError).details).toMatchObject({ containers: 4 });
    expect((inUse as ApiError).message).toMatch(/used by 4 containers/);
    // sleep as pid 1 ignores SIGTERM: stopped at once, not after the default grace time
    for (const name of ['plain', 'over', 'entry']) {
      const { job } = await fleet.admin.post<{ job: { id: string } }>(`/containers/${name}/stop`, { timeoutSeconds: 0 });
      await fleet.admin.waitForJob(job.id);
    }
    for (const name of ['plain', 'over', 'entry', 'noentry']) await fleet.admin.delete(`/containers/${name}?force=1`);
    await expect
      .poll(async () => (await fleet.admin.get<{ containers: unknown[] }>('/containers')).containers.length, { timeout: 20_000 })
      .toBe(0);
    expect(await fleet.admin.delete('/images/app:1')).toEqual({ deleted: 'app:1', removedLayers: [] });
    expect(await fleet.admin.delete('/images/app-legacy')).toEqual({ deleted: 'app-legacy', removedLayers: [] });
    const last = await fleet.admin.delete<{ removedLayers: string[] }>('/images/app-25');
    expect(last.removedLayers.sort()).toEqual(image.layers.map((l) => l.diffId).sort());
    expect(readdirSync(layerStore())).toEqual([]);
    const { rows } = await fleet.db.pool.query('SELECT count(*)::int AS n FROM image_layer');
    expect(rows[0].n).toBe(0);
    expect(existsSync(join(fleet.base.dataDir, 'images', 'busybox'))).toBe(true);
    expect(((await fleet.admin.delete('/images/busybox').catch((e: unknown) => e)) as ApiError).code).toBe('CONFLICT');
  });

  it('runs the new image at once when a name is given to another image (the create works from no stale record)', async () => {
    const imageWith = (word: string) =>
      buildImage(
        [
          layerOf([
            { name: 'bin/', type: 'directory', mode: 0o755 },
            { name: 'bin/busybox', body: busybox, mode: 0o755 },
            { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
          ]),
        ],
        { Cmd: ['/bin/sh', '-c', `echo ${word}; exec sleep 1000`], Env: ['PATH=/bin'] },
      );
    expect((await upload('swap', ociLayoutTar(imageWith('first')))).status).toBe(201);
    await fleet.admin.post('/containers', { name: 'swap-1', image: 'swap' });
    await waitRunning(fleet, 'swap-1');
    const { job } = await fleet.admin.post<{ job: { id: string } }>('/containers/swap-1/stop', { timeoutSeconds: 0 });
    await fleet.admin.waitForJob(job.id);
    await fleet.admin.delete('/containers/swap-1?force=1');
    await expect
      .poll(async () => (await fleet.admin.delete('/images/swap').catch((e: unknown) => e)) instanceof ApiError, { timeout: 20_000 })
      .toBe(false);
    expect((await upload('swap', ociLayoutTar(imageWith('second')))).status).toBe(201);
    // well within the API's record cache's lifetime: the create's statement sees the new digest
    const { container } = await fleet.admin.post<{ container: ContainerView }>('/containers', { name: 'swap-2', image: 'swap' });
    expect(container.command).toEqual(['/bin/sh', '-c', 'echo second; exec sleep 1000']);
    await waitRunning(fleet, 'swap-2');
    await expect.poll(() => logOf('swap-2'), { timeout: 10_000 }).toBe('second\n');
  });
  it('imports into a project with a diskBytes quota unpacked, counting the unpacked bytes, as before', async () => {
    await fleet.admin.post('/projects', { name: 'metered', quotas: { diskBytes: 64 * 1024 * 1024 } });
    const metered = buildImage([layerOf([{ name: 'm', body: 'metered\n'.repeat(1000) }])]);
    const res = await upload('m', ociLayoutTar(metered), 'metered');
    expect(res.status).toBe(201);
    expect(res.body.layers).toEqual([{ diffId: metered.layers[0]!.diffId, sizeBytes: metered.layers[0]!.tar.length }]);
    // unpacked before the answer: nothing packed, the layer in place
    expect(packedNames()).toEqual([]);
    expect(existsSync(join(layerStore(), metered.layers[0]!.diffId.slice(7)))).toBe(true);
    const project = await fleet.admin.get<ProjectView>('/projects/metered');
    expect(project.quotas.diskBytes.used).toBe(metered.layers[0]!.tar.length);
    await fleet.admin.withSelection({ project: 'metered' }).delete('/images/m');
  });

  it('takes back an image whose layer is not its diff_id once it unpacks: creates get IMAGE_UNAVAILABLE naming the layer, nothing of it stays', async () => {
    const honest = buildImage(
      [
        layerOf([
          { name: 'bin/', type: 'directory', mode: 0o755 },
          { name: 'bin/busybox', body: busybox, mode: 0o755 },
        ]),
      ],
      {
        Cmd: ['/bin/busybox', 'true'],
      },
    );
    const config = JSON.parse(honest.config.toString()) as { rootfs: { diff_ids: string[] } };
    const claimed = sha256('not this layer');
    config.rootfs.diff_ids[0] = claimed;
    const liar = imageWithConfig(honest, Buffer.from(JSON.stringify(config)));
    // only the blobs' digests are checked before the answer: they are right
    expect((await upload('liar', ociLayoutTar(liar))).status).toBe(201);
    // the create waits for the unpack the import started, which refuses the layer and takes the
    // image back: the create is told why, or, when the take-back came first, that there is no such image
    const err = await fleet.admin.post('/containers', { name: 'liar-0', image: 'liar' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const { code, message } = err as ApiError;
    expect(
      (code === 'IMAGE_UNAVAILABLE' && /image liar of project default cannot be unpacked: .*not the diff_id sha256:/.test(message)) ||
        (code === 'INVALID_INPUT' && /image liar does not exist/.test(message)),
      `${code}: ${message}`,
    ).toBe(true);
    await expect.poll(async () => ((await fleet.admin.get('/images/liar').catch((e: unknown) => e)) as ApiError).code).toBe('NOT_FOUND');
    expect(existsSync(join(layerStore(), claimed.slice(7)))).toBe(false);
    expect(packedNames().filter((n) => n.startsWith(claimed.slice(7)))).toEqual([]);
    // the refused creates left no container behind
    expect(((await fleet.admin.get('/containers/liar-0').catch((e: unknown) => e)) as ApiError).code).toBe('NOT_FOUND');
  });
});
