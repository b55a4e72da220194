import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NagayaError } from '../src/errors';
import { RegistryAuth } from '../src/registry/registry-auth';
import { pullToLayout, nodePlatform } from '../src/registry/pull-to-layout';
import { MEDIA, RegistryClient, sha256Of } from '../src/registry/registry-client';
import { startLocalRegistry, type LocalRegistry } from './support/local-registry';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
let work: string;
const registries: LocalRegistry[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'nagaya-registry-client-'));
});
afterAll(async () => {
  await Promise.all(registries.map((r) => r.stop()));
  rmSync(work, { recursive: true, force: true });
});

async function refusal(call: Promise<unknown>): Promise<NagayaError> {
  const outcome = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(NagayaError);
  return outcome as NagayaError;
}

/** Pushes a one-layer image (random layer bytes, a config) and returns what was pushed. */
async function pushImage(client: RegistryClient, repository: string, tag: string) {
  const layer = randomBytes(300_000);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }),
  );
  writeFileSync(join(work, 'layer'), layer);
  writeFileSync(join(work, 'config'), config);
  await client.pushBlob(repository, digestOf(layer), join(work, 'layer'));
  await client.pushBlob(repository, digestOf(config), join(work, 'config'));
  // a second push of the same blob is a HEAD and nothing more
  await client.pushBlob(repository, digestOf(layer), join(work, 'layer'));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
    }),
  );
  await client.putManifest(repository, tag, MEDIA.ociManifest, manifest);
  return { layer, config, manifest };
}

describe('RegistryClient against a real distribution registry', () => {
  for (const mode of ['none', 'basic', 'bearer'] as const) {
    it(`pushes and pulls an image by tag and by digest (auth ${mode})`, async () => {
      const registry = await startLocalRegistry(mode);
      registries.push(registry);
      const client = new RegistryClient(registry.url, new RegistryAuth(registry.credentials));
      const pushed = await pushImage(client, 'nagaya/p1/web', 'v1');
      const byTag = await client.manifest('nagaya/p1/web', 'v1');
      expect(byTag.digest).toBe(sha256Of(pushed.manifest));
      expect(byTag.mediaType).toBe(MEDIA.ociManifest);
      expect((await client.manifest('nagaya/p1/web', byTag.digest)).bytes.equals(pushed.manifest)).toBe(true);
      expect((await client.smallBlob('nagaya/p1/web', digestOf(pushed.config), 1 << 20)).equals(pushed.config)).toBe(true);
      const dest = join(work, `pulled-${mode}`);
      let counted = 0;
      await client.blobToFile('nagaya/p1/web', digestOf(pushed.layer), pushed.layer.length, dest, (n) => {
        counted += n;
      });
      expect(readFileSync(dest).equals(pushed.layer)).toBe(true);
      expect(counted).toBe(pushed.layer.length);
      if (mode === 'bearer') expect(registry.tokensIssued()).toBeGreaterThan(0);
      // an unknown tag is IMAGE_UNAVAILABLE, not found
      const missing = await refusal(client.manifest('nagaya/p1/web', 'nope'));
      expect([missing.code, (missing.details as { reason: string }).reason]).toEqual(['IMAGE_UNAVAILABLE', 'not-found']);
      if (mode !== 'none') {
        // no credentials, or wrong ones: refused, and said so
        const anonymous = new RegistryClient(registry.url, new RegistryAuth(undefined));
        const noAuth = await refusal(anonymous.manifest('nagaya/p1/web', 'v1'));
        expect([noAuth.code, (noAuth.details as { reason: string }).reason]).toEqual(['IMAGE_UNAVAILABLE', 'unauthorized']);
        const wrong = new RegistryClient(registry.url, new RegistryAuth({ username: 'fleet', password: 'wrong' }));
        expect((await refusal(wrong.manifest('nagaya/p1/web', 'v1'))).code).toBe('IMAGE_UNAVAILABLE');
      }
    }, 60_000);
  }

  it('resumes a download that broke off, from where the part ends', async () => {
    const registry = await startLocalRegistry('none');
    registries.push(registry);
    const client = new RegistryClient(registry.url, new RegistryAuth(undefined));
    const pushed = await pushImage(client, 'nagaya/resume', 'v1');
    const dest = join(work, 'resumed');
    writeFileSync(`${dest}.partial`, pushed.layer.subarray(0, 123_456));
    let counted = 0;
    await client.blobToFile('nagaya/resume', digestOf(pushed.layer), pushed.layer.length, dest, (n) => {
      counted += n;
    });
    expect(readFileSync(dest).equals(pushed.layer)).toBe(true);
    expect(existsSync(`${dest}.partial`)).toBe(false);
    expect(counted).toBe(pushed.layer.length);
  }, 60_000);
});

describe('RegistryClient against a registry that lies', () => {
  let liar: Server;
  let base: string;
  const real = randomBytes(1000);
  beforeAll(async () => {
    // serves other bytes than the digest asked for, and a manifest larger than any manifest may be
    liar = createServer((req, res) => {
      if (req.url?.includes('/blobs/')) res.writeHead(200, { 'content-length': '1000' }).end(randomBytes(1000));
      else res.writeHead(200, { 'content-type': MEDIA.ociManifest }).end(Buffer.alloc(5 * 1024 * 1024, 0x20));
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => liar.close(resolve)));

  it('refuses a blob whose bytes are not its digest, leaving no file, and a manifest past the cap', async () => {
    const client = new RegistryClient(base, new RegistryAuth(undefined));
    const dest = join(work, 'lied');
    const err = await refusal(client.blobToFile('x/y', digestOf(real), real.length, dest));
    expect([err.code, (err.details as { reason: string }).reason]).toEqual(['IMAGE_UNAVAILABLE', 'digest-mismatch']);
    expect(existsSync(dest) || existsSync(`${dest}.partial`)).toBe(false);
    const tooBig = await refusal(client.manifest('x/y', 'v1'));
    expect((tooBig.details as { reason: string }).reason).toBe('too-large');
  });

  it('says a registry that does not answer is unreachable', async () => {
    const client = new RegistryClient('http://127.0.0.1:1', new RegistryAuth(undefined));
    const err = await refusal(client.manifest('x/y', 'v1'));
    expect([err.code, (err.details as { reason: string }).reason]).toEqual(['IMAGE_UNAVAILABLE', 'unreachable']);
  });
});

describe('pullToLayout', () => {
  it('resolves an index to this platform and writes an OCI layout of verified blobs; a second pull fetches nothing', async () => {
    const registry = await startLocalRegistry('basic');
    registries.push(registry);
    const client = new RegistryClient(registry.url, new RegistryAuth(registry.credentials));
    const pushed = await pushImage(client, 'nagaya/multi', 'amd');
    const other = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: { digest: digestOf(pushed.config), size: pushed.config.length },
        layers: [],
      }),
    );
    await client.putManifest('nagaya/multi', 'other', MEDIA.ociManifest, other);
    const here = nodePlatform();
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.ociIndex,
        manifests: [
          { mediaType: MEDIA.ociManifest, digest: sha256Of(other), size: other.length, platform: { os: 'linux', architecture: 's390x' } },
          {
            mediaType: MEDIA.ociManifest,
            digest: sha256Of(pushed.manifest),
            size: pushed.manifest.length,
            platform: { os: here.os, architecture: here.architecture },
          },
        ],
      }),
    );
    await client.putManifest('nagaya/multi', 'v1', MEDIA.ociIndex, index);
    const layout = join(work, 'layout');
    let last = 0;
    const pulled = await pullToLayout(client, 'nagaya/multi', 'v1', layout, {
      platform: here,
      maxBytes: 1 << 30,
      onBytes: (n) => (last = n),
    });
    expect(pulled.manifestDigest).toBe(sha256Of(pushed.manifest));
    expect(last).toBe(pushed.layer.length);
    const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.slice(7)));
    expect(blob(digestOf(pushed.layer)).equals(pushed.layer)).toBe(true);
    expect(blob(digestOf(pushed.config)).equals(pushed.config)).toBe(true);
    expect(JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')).manifests[0].digest).toBe(pulled.manifestDigest);
    // too large for the limit: refused before a byte of a layer is fetched
    const small = await refusal(pullToLayout(client, 'nagaya/multi', 'v1', join(work, 'small'), { platform: here, maxBytes: 1000 }));
    expect(small.code).toBe('PAYLOAD_TOO_LARGE');
    expect(existsSync(join(work, 'small', 'blobs'))).toBe(false);
    // a platform the index does not have: the error lists what it has
    const none = await refusal(
      pullToLayout(client, 'nagaya/multi', 'v1', join(work, 'arm'), { platform: { os: 'linux', architecture: 'mips' }, maxBytes: 1 << 30 }),
    );
    expect(none.message).toMatch(/linux\/s390x/);
  }, 60_000);
});

describe('RegistryClient following a blob to its storage', () => {
  const blob = randomBytes(200_000);
  const digest = digestOf(blob);
  const servers: Server[] = [];
  const listen = async (handler: Parameters<typeof createServer>[1]) => {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  afterAll(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

  it("follows a registry's redirect to another origin without the registry's credentials, and one within it with them", async () => {
    const storageSaw: Array<string | undefined> = [];
    const registrySaw: Array<{ path: string; authorization: string | undefined }> = [];
    const storage = await listen((req, res) => {
      storageSaw.push(req.headers.authorization);
      res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
    });
    const registry = await listen((req, res) => {
      registrySaw.push({ path: req.url ?? '', authorization: req.headers.authorization });
      if (!req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      // the first blob goes to storage on another origin (a presigned URL), the second to another path here
      if (req.url === `/v2/x/far/blobs/${digest}`) return void res.writeHead(307, { location: `${storage}/b?signature=s` }).end();
      if (req.url === `/v2/x/near/blobs/${digest}`) return void res.writeHead(302, { location: '/kept-here' }).end();
      if (req.url === '/kept-here') return void res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
      res.writeHead(404).end();
    });
    const client = new RegistryClient(registry, new RegistryAuth({ username: 'fleet', password: 'secret' }));
    await client.blobToFile('x/far', digest, blob.length, join(work, 'far'));
    expect(readFileSync(join(work, 'far')).equals(blob)).toBe(true);
    expect(storageSaw).toEqual([undefined]);
    await client.blobToFile('x/near', digest, blob.length, join(work, 'near'));
    expect(readFileSync(join(work, 'near')).equals(blob)).toBe(true);
    const basic = `Basic ${Buffer.from('fleet:secret').toString('base64')}`;
    expect(registrySaw.filter((r) => r.authorization).map((r) => [r.path, r.authorization])).toEqual([
      [`/v2/x/far/blobs/${digest}`, basic],
      [`/v2/x/near/blobs/${digest}`, basic],
      ['/kept-here', basic],
    ]);
  });

  it('refuses a redirect loop and a redirect to another scheme, as unreachable', async () => {
    const loop = await listen((req, res) => res.writeHead(302, { location: req.url ?? '/' }).end());
    const looped = await refusal(
      new RegistryClient(loop, new RegistryAuth(undefined)).blobToFile('x/y', digest, blob.length, join(work, 'loop')),
    );
    expect([looped.code, (looped.details as { reason: string }).reason, looped.message]).toEqual([
      'IMAGE_UNAVAILABLE',
      'unreachable',
      expect.stringContaining('more than 5 redirects'),
    ]);
    const elsewhere = await listen((_req, res) => res.writeHead(302, { location: 'file:///etc/shadow' }).end());
    const refused = await refusal(
      new RegistryClient(elsewhere, new RegistryAuth(undefined)).blobToFile('x/y', digest, blob.length, join(work, 'file')),
    );
    expect(refused.message).toContain('a redirect to file: is not followed');
    expect(existsSync(join(work, 'file'))).toBe(false);
  });
});
