// Hostile image archives through the real upload API. Beside the data directory sits a canary
// directory (a file, a directory, a secret); every archive aims at it or at /etc, and after each
// one the canary and /etc/shadow must be exactly as before: owner, mode, link count, content.
// Each archive gets 400 INVALID_INPUT (413 for a size limit, as the upload limit), or a safe
// result that stays inside the image. An OCI image's layers are packed at import and unpacked
// after: a hostile one is refused then, and the image taken back.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, ADMIN_TOKEN, type TestFleet } from './support/test-server';
import { rawTar, type RawEntry } from '../../native/test/support/raw-tar';
import { runAsNobody } from '../../native/test/support/as-nobody';
import { snapshotTree, statLine } from '../../native/test/support/canary';
import { buildImage, layerOf, ociLayoutTar } from '../../native/test/support/oci-fixtures';

const UPLOAD_LIMIT = 1024 * 1024;
const UNPACKED_LIMIT = 16 * 1024 * 1024;

const canary = mkdtempSync(join(tmpdir(), 'nagaya-canary-'));
let fleet: TestFleet;
/** 200 MiB of zeros in a tar, gzipped to ~200 KB. Made before the server starts: a multi-second
 * gzip in the middle of the tests would stall this process, server included, past its
 * keep-alive timeout, and the next request would meet a closing socket. */
let bomb: Buffer;
beforeAll(async () => {
  bomb = await promisify(gzip)(rawTar([{ name: 'zeros', body: Buffer.alloc(200 * 1024 * 1024) }]), { level: 9 });
  writeFileSync(join(canary, 'file'), 'a host file\n', { mode: 0o644 });
  mkdirSync(join(canary, 'dir'), { mode: 0o755 });
  writeFileSync(join(canary, 'dir/secret'), 'a host secret\n', { mode: 0o600 });
  fleet = await startTestFleet({
    slices: 2,
    env: { NAGAYA_IMAGE_UPLOAD_LIMIT_BYTES: String(UPLOAD_LIMIT), NAGAYA_IMAGE_UNPACKED_LIMIT_BYTES: String(UNPACKED_LIMIT) },
  });
});
afterAll(async () => {
  await fleet?.stop();
  rmSync(canary, { recursive: true, force: true });
});

const imagesDir = () => join(fleet.base.dataDir, 'images');
const layerStore = () => join(imagesDir(), '.oci');
const layerDirs = () => (existsSync(join(layerStore(), 'layers', 'sha256')) ? readdirSync(join(layerStore(), 'layers', 'sha256')) : []);

/** The one layer directory an imported rootfs tarball became; undefined when no image of that name was recorded. */
async function imageDir(name: string): Promise<string | undefined> {
  const { rows } = await fleet.db.pool.query<{ layers: string[] }>('SELECT layers FROM image WHERE name = $1', [name]);
  const diffId = rows[0]?.layers[0];
  return diffId && join(layerStore(), 'layers', 'sha256', diffId.slice('sha256:'.length));
}

/** Owner, mode, link count, mtime and content of everything under the canary, and of /etc/shadow. */
const snapshot = () => ({ ...snapshotTree(canary), '/etc/shadow': statLine('/etc/shadow') });

async function upload(name: string, body: Buffer) {
  const res = await fetch(`${fleet.url}/api/v1/images?name=${name}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/x-tar' },
    body,
  });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } & Record<string, unknown> };
}

/** Staging directories of the layer store (and dot-names of older imports): none may outlive its import. */
const leftovers = () => [
  ...readdirSync(imagesDir()).filter((n) => n.startsWith('.') && n !== '.oci'),
  ...(existsSync(join(layerStore(), 'staging')) ? readdirSync(join(layerStore(), 'staging')) : []),
];

type Outcome = 'refused' | ((image: string) => void);

const corpus: Array<[string, RawEntry[], Outcome]> = [
  [
    'a symlink to a host file with an owner: the link gets the owner, not the file',
    [{ name: 'x', type: 'symlink', linkname: join(canary, 'file'), uid: 1234, gid: 1234 }],
    (image) => {
      const link = lstatSync(join(image, 'x'));
      expect([link.isSymbolicLink(), link.uid, link.gid]).toEqual([true, 1234, 1234]);
    },
  ],
  [
    'a symlink to a host directory, then a directory entry of that name with mode 7777',
    [
      { name: 'l', type: 'symlink', linkname: join(canary, 'dir') },
      { name: 'l', type: 'directory', mode: 0o7777 },
    ],
    (image) => {
      const dir = lstatSync(join(image, 'l'));
      expect([dir.isDirectory(), dir.mode & 0o7777]).toEqual([true, 0o7777]);
    },
  ],
  [
    'a symlink to a host directory, then a hard link through it to a host file',
    [
      { name: 'd', type: 'symlink', linkname: join(canary, 'dir') },
      { name: 'stolen', type: 'link', linkname: 'd/secret' },
    ],
    'refused',
  ],
  [
    'a symlink to a host directory, then a file written through it',
    [
      { name: 'a', type: 'symlink', linkname: join(canary, 'dir') },
      { name: 'a/planted', body: 'x' },
    ],
    'refused',
  ],
  [
    'a symlink to a host directory, then a directory through it',
    [
      { name: 'etc', type: 'symlink', linkname: canary },
      { name: 'etc/sub/', type: 'directory', mode: 0o777 },
    ],
    'refused',
  ],
  [
    'a symlink to a host file, then a file of the same name: the link is replaced, not followed',
    [
      { name: 'a', type: 'symlink', linkname: join(canary, 'file') },
      { name: 'a', body: 'overwritten?', mode: 0o666, uid: 99 },
    ],
    (image) => {
      const file = lstatSync(join(image, 'a'));
      expect([file.isFile(), file.uid, readFileSync(join(image, 'a'), 'utf8')]).toEqual([true, 99, 'overwritten?']);
    },
  ],
  [
    'a symlink named like the manifest, pointing at a host file',
    [
      { name: 'bin/sh', body: 'x' },
      { name: '.nagaya-image.json', type: 'symlink', linkname: join(canary, 'file') },
    ],
    (image) => {
      // nagaya writes nothing into a layer: the link stays a link, inside the layer, never followed
      expect(lstatSync(join(image, '.nagaya-image.json')).isSymbolicLink()).toBe(true);
    },
  ],
  ["a '../' path", [{ name: '../escaped', body: 'x' }], 'refused'],
  ["a '..' deep in a path", [{ name: 'a/b/../../../escaped', body: 'x' }], 'refused'],
  ["a '..' in a PAX path", [{ name: 'harmless', pax: { path: '../../escaped' }, body: 'x' }], 'refused'],
  [
    'an absolute path: it lands inside the image',
    [{ name: join(canary, 'dir/secret'), body: 'inside' }],
    (image) => {
      expect(readFileSync(join(image, canary, 'dir/secret'), 'utf8')).toBe('inside');
    },
  ],
  ["a symlink named '.'", [{ name: '.', type: 'symlink', linkname: canary }], 'refused'],
  ["a symlink named '/'", [{ name: '/', type: 'symlink', linkname: canary }], 'refused'],
  ['a hard link to /etc/shadow', [{ name: 'shadow', type: 'link', linkname: '/etc/shadow' }], 'refused'],
  ['a hard link to ../x', [{ name: 'x', type: 'link', linkname: '../x' }], 'refused'],
  [
    'a hard link through a symlink to /etc',
    [
      { name: 'e', type: 'symlink', linkname: '/etc' },
      { name: 'shadow', type: 'link', linkname: 'e/shadow' },
    ],
    'refused',
  ],
  ['an owner outside 0..65535', [{ name: 'f', body: 'x', uid: 65536 }], 'refused'],
  // Before: the long path was written and the refusal that followed left a tree rm could not
  // remove (ENAMETOOLONG past PATH_MAX with the store's own path): a 500 and a staging leftover.
  [
    'a path of 4090 bytes, then a refused entry',
    [
      { name: 'x', pax: { path: `${Array.from({ length: 16 }, () => 'p'.repeat(249)).join('/')}/${'f'.repeat(90)}` }, body: 'x' },
      { name: '../escaped', body: 'x' },
    ],
    'refused',
  ],
];

describe('hostile archives through POST /images', () => {
  it.each(corpus.map(([what, entries, outcome], i) => [what, i, entries, outcome] as const))('%s', async (_what, i, entries, outcome) => {
    const before = snapshot();
    const layersBefore = layerDirs();
    const name = `hostile-${i}`;
    const res = await upload(name, rawTar(entries));
    if (outcome === 'refused') {
      expect(res.status).toBe(400);
      expect(res.body.error?.code).toBe('INVALID_INPUT');
      expect(await imageDir(name)).toBeUndefined();
      expect(layerDirs()).toEqual(layersBefore);
    } else {
      expect(res.status).toBe(201);
      outcome((await imageDir(name))!);
    }
    expect(leftovers()).toEqual([]);
    expect(snapshot()).toEqual(before);
  });

  it('skips devices and FIFOs (a container gets its own /dev)', async () => {
    const before = snapshot();
    const res = await upload(
      'devices',
      rawTar([
        { name: 'dev/null', type: 'char-device', devmajor: 1, devminor: 3 },
        { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 },
        { name: 'dev/mem', type: 'char-device', devmajor: 1, devminor: 1, pax: { path: `${canary}/mem` } },
        { name: 'run/pipe', type: 'fifo' },
        { name: 'etc/hostname', body: 'devices\n' },
      ]),
    );
    expect(res.status).toBe(201);
    const dir = (await imageDir('devices'))!;
    expect(readFileSync(join(dir, 'etc/hostname'), 'utf8')).toBe('devices\n');
    for (const path of ['dev/null', 'dev/sda', 'run/pipe', `${canary.slice(1)}/mem`]) expect(existsSync(join(dir, path)), path).toBe(false);
    expect(snapshot()).toEqual(before);
  });

  it('stops a gzip bomb at the unpacked limit (413), however small it is compressed', async () => {
    expect(bomb.length).toBeLessThan(UPLOAD_LIMIT / 4);
    const res = await upload('bomb', bomb);
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      message: expect.stringContaining(`larger than ${UNPACKED_LIMIT} bytes`),
    });
    expect(await imageDir('bomb')).toBeUndefined();
    expect(leftovers()).toEqual([]);
  });

  it('counts the compressed upload too, when the client sends no length (413)', async () => {
    const tar = rawTar([{ name: 'big', body: Buffer.alloc(UPLOAD_LIMIT + 256 * 1024, 7) }]);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < tar.length; at += 64 * 1024) controller.enqueue(tar.subarray(at, at + 64 * 1024));
        controller.close();
      },
    });
    const res = await fetch(`${fleet.url}/api/v1/images?name=chunked`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/x-tar' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(`the image is larger than ${UPLOAD_LIMIT} bytes`);
    expect(await imageDir('chunked')).toBeUndefined();
    expect(leftovers()).toEqual([]);
  });

  it('keeps setuid files, in a store no other host user can list or run anything from', async () => {
    const res = await upload(
      'suid',
      gzipSync(
        rawTar([
          { name: 'bin/', type: 'directory', mode: 0o755 },
          { name: 'bin/x', body: readFileSync('/usr/bin/id'), mode: 0o4755, uid: 0, gid: 0 },
        ]),
      ),
    );
    expect(res.status).toBe(201);
    const suid = join((await imageDir('suid'))!, 'bin/x');
    expect(statSync(suid).mode & 0o7777).toBe(0o4755);
    expect(statSync(imagesDir()).mode & 0o7777).toBe(0o700);

    // What the audit did: run the setuid-root file as nobody (it printed euid=0(root)).
    const run = runAsNobody(suid, []);
    expect(run.status).not.toBe(0);
    expect(run.stdout).not.toMatch(/euid=0/);
    expect(run.stderr).toMatch(/Permission denied/);
    const list = runAsNobody('/bin/ls', [imagesDir()]);
    expect(list.status).not.toBe(0);
    expect(list.stderr).toMatch(/Permission denied/);
  });
});

describe('hostile layers of an OCI image, packed at import and unpacked after', () => {
  const cases: Array<[string, RawEntry[]]> = [
    ['a ../ path', [{ name: '../../../../../../../../tmp/escaped-through-oci', body: 'pwned\n' }]],
    [
      'a symlink to the canary and a write through it',
      [
        { name: 'escape', type: 'symlink', linkname: canary },
        { name: 'escape/file', body: 'pwned\n' },
      ],
    ],
    ['a hard link to a host file', [{ name: 'h', type: 'link', linkname: join(canary, 'dir/secret') }]],
  ];

  it.each(cases)(
    '%s: the import answers 201 (digests only), then the unpack refuses it and takes the image back; the host is untouched',
    async (label, entries) => {
      const before = snapshot();
      const layersBefore = layerDirs().sort();
      const hostile = buildImage([layerOf(entries)]);
      const name = `hostile-oci-${cases.findIndex(([l]) => l === label)}`;
      const res = await upload(name, ociLayoutTar(hostile));
      expect(res.status).toBe(201);
      await expect
        .poll(
          async () => (await fetch(`${fleet.url}/api/v1/images/${name}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status,
          {
            timeout: 15_000,
          },
        )
        .toBe(404);
      expect(snapshot()).toEqual(before);
      expect(existsSync('/tmp/escaped-through-oci')).toBe(false);
      expect(layerDirs().sort()).toEqual(layersBefore);
      const packed = join(layerStore(), 'packed');
      expect(existsSync(packed) ? readdirSync(packed).filter((n) => n.startsWith(hostile.layers[0]!.diffId.slice(7))) : []).toEqual([]);
      // the take-back removes its staging (a layer moved out of place) a moment after the record goes
      await expect.poll(() => leftovers(), { timeout: 10_000 }).toEqual([]);
    },
  );
});
