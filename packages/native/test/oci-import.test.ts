// importImage on hand-written archives (support/oci-fixtures.ts), through the real extractor into
// a real store: the unpacked layers (whiteout devices, opaque xattrs, setuid bits, owners), the
// stacked tree by overlay's rules and by a real read-only overlay mount, the three archive
// formats giving the same layers, gzip/zstd/plain layers, shared and concurrent layers, and
// refusals (digests, formats, platforms, hostile layers) that leave nothing on disk.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';

import { type ImportedImage, importImage, listLayers, NativeError, removeLayer } from '@nagaya/native';
import { snapshotTree } from './support/canary';
import {
  buildImage,
  docker25Tar,
  dockerSaveTar,
  type FixtureImage,
  type FixtureLayer,
  layerOf,
  ociLayoutFiles,
  ociLayoutTar,
  sha256,
} from './support/oci-fixtures';
import { readTree, stackTrees, type Tree, treeHash, treeLines } from './support/layer-trees';
import { rawTar, type RawEntry } from './support/raw-tar';

const work = mkdtempSync(join(tmpdir(), 'nagaya-oci-import-'));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  rmSync(work, { recursive: true, force: true });
});

const LIMITS = { maxBytes: 64 * 1024 * 1024, maxEntries: 10_000, maxDepth: 64 };
const OPTIONS = { maxArchiveBytes: 256 * 1024 * 1024, layerLimits: LIMITS };
let stores = 0;
const freshStore = () => join(work, `store-${stores++}`);
const importBuffer = (archive: Buffer, store: string) => importImage(Readable.from([archive]), store, OPTIONS);

const d = (name: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, type: 'directory', mode: 0o755, ...extra });
const f = (name: string, body: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, body, mode: 0o644, ...extra });

/** Layer 1: a base. Layer 2: a whiteout of a file and of a directory, an opaque directory listed after its own entry, a setgid file of uid 1000. Layer 3: names brought back over whiteouts, a whiteout beside its own name. */
const BASE = [
  d('bin/'),
  f('bin/sh', 'shell', { mode: 0o755 }),
  f('bin/su', 'su', { mode: 0o4755 }),
  d('etc/'),
  f('etc/passwd', 'root:x:0:0'),
  f('etc/hostname', 'one'),
  d('usr/share/doc/'),
  f('usr/share/doc/a.txt', 'a'),
  f('usr/share/doc/b.txt', 'b'),
  d('opt/keep/'),
  f('opt/keep/x', 'x'),
  d('var/old/'),
  f('var/old/file', 'old'),
];
const MIDDLE = [
  f('etc/.wh.hostname', ''),
  d('usr/share/doc/'),
  f('usr/share/doc/c.txt', 'c'),
  f('usr/share/doc/.wh..wh..opq', ''),
  f('bin/passwd', 'passwd', { mode: 0o2755, uid: 1000, gid: 1000 }),
  f('var/.wh.old', ''),
];
const TOP = [
  f('etc/hostname', 'three'),
  f('opt/keep/.wh.x', ''),
  f('opt/keep/y', 'y'),
  f('opt/.wh.same', ''),
  f('opt/same', 'own entry wins'),
  d('var/old/'),
  f('var/old/new', 'new'),
];
const LAYERS: FixtureLayer[] = [layerOf(BASE, 'gzip'), layerOf(MIDDLE, 'zstd'), layerOf(TOP, 'none')];
const RUN = { Entrypoint: ['/bin/sh'], Cmd: ['-c', 'true'], Env: ['PATH=/bin', 'A=1'], WorkingDir: '/opt', User: '1000:1000' };

/** What a container sees: the stacked tree, by hand. */
const EXPECTED_STACK = [
  '. dir 755 0:0',
  'bin dir 755 0:0',
  `bin/passwd file ${short('passwd')} 2755 1000:1000`,
  `bin/sh file ${short('shell')} 755 0:0`,
  `bin/su file ${short('su')} 4755 0:0`,
  'etc dir 755 0:0',
  `etc/hostname file ${short('three')} 644 0:0`,
  `etc/passwd file ${short('root:x:0:0')} 644 0:0`,
  'opt dir 755 0:0',
  'opt/keep dir 755 0:0',
  `opt/keep/y file ${short('y')} 644 0:0`,
  `opt/same file ${short('own entry wins')} 644 0:0`,
  'usr dir 755 0:0',
  'usr/share dir 755 0:0',
  'usr/share/doc dir 755 0:0',
  `usr/share/doc/c.txt file ${short('c')} 644 0:0`,
  'var dir 755 0:0',
  'var/old dir 755 0:0',
  `var/old/new file ${short('new')} 644 0:0`,
];
function short(body: string): string {
  return sha256(body).slice('sha256:'.length, 'sha256:'.length + 16);
}
const lineOf = (tree: Tree, rel: string) => treeLines(new Map([[rel, tree.get(rel) ?? { what: 'missing', mode: 0, uid: 0, gid: 0 }]]))[0];

function storeLeftovers(store: string): string[] {
  const layers = existsSync(join(store, 'layers/sha256')) ? readdirSync(join(store, 'layers/sha256')) : [];
  const staging = existsSync(join(store, 'staging')) ? readdirSync(join(store, 'staging')) : [];
  return [...layers.map((n) => `layers/${n}`), ...staging.map((n) => `staging/${n}`)];
}

async function refused(archive: Buffer, store: string, message: RegExp): Promise<NativeError> {
  const err = await importBuffer(archive, store).then(
    () => {
      throw new Error('imported an archive that should have been refused');
    },
    (e: unknown) => e as NativeError,
  );
  expect(err).toBeInstanceOf(NativeError);
  expect({ code: err.code, message: err.message }).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(message) });
  return err;
}

const image = buildImage(LAYERS, RUN);

describe('importing an OCI image layout', () => {
  let imported: ImportedImage;
  const store = freshStore();

  it('returns the manifest, config and layers, bottom first', async () => {
    imported = await importBuffer(ociLayoutTar(image), store);
    expect(imported.format).toBe('oci-layout');
    expect(imported.manifestDigest).toBe(image.manifestDigest);
    expect(imported.configDigest).toBe(image.configDigest);
    expect(imported.config).toMatchObject({
      os: 'linux',
      entrypoint: RUN.Entrypoint,
      cmd: RUN.Cmd,
      env: RUN.Env,
      workingDir: '/opt',
      user: '1000:1000',
    });
    expect(imported.layers.map((l) => [l.diffId, l.digest, l.mediaType, l.compressedSize, l.size, l.unpacked])).toEqual(
      image.layers.map((l) => [l.diffId, l.digest, l.mediaType, l.blob.length, l.tar.length, true]),
    );
    expect(imported.totalSize).toBe(image.layers.reduce((s, l) => s + l.tar.length, 0));
    expect(imported.layers.map((l) => l.dir)).toEqual(image.layers.map((l) => join(store, 'layers/sha256', l.diffId.slice(7))));
    expect(await listLayers(store)).toEqual(
      [...imported.layers].sort((a, b) => (a.dir < b.dir ? -1 : 1)).map((l) => ({ diffId: l.diffId, dir: l.dir })),
    );
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
  });

  it('unpacks whiteouts as 0:0 devices and opaque directories as xattrs, with no .wh. file left', () => {
    const [base, middle, top] = imported.layers.map((l) => readTree(l.dir));
    expect(lineOf(middle, 'etc/hostname')).toBe('etc/hostname whiteout 0 0:0');
    expect(lineOf(middle, 'var/old')).toBe('var/old whiteout 0 0:0');
    expect(lineOf(middle, 'usr/share/doc')).toBe('usr/share/doc dir 755 0:0 opaque');
    // the opaque mark hides the lower layers only: the layer's own c.txt, listed before the marker, stays
    expect(lineOf(middle, 'usr/share/doc/c.txt')).toBe(`usr/share/doc/c.txt file ${short('c')} 644 0:0`);
    expect(lineOf(middle, 'bin/passwd')).toBe(`bin/passwd file ${short('passwd')} 2755 1000:1000`);
    expect(lineOf(base, 'bin/su')).toBe(`bin/su file ${short('su')} 4755 0:0`);
    expect(lineOf(top, 'opt/keep/x')).toBe('opt/keep/x whiteout 0 0:0');
    // a whiteout beside the layer's own entry of that name leaves the entry
    expect(lineOf(top, 'opt/same')).toBe(`opt/same file ${short('own entry wins')} 644 0:0`);
    for (const tree of [base, middle, top]) {
      expect([...tree.keys()].filter((k) => k.split('/').some((c) => c.startsWith('.wh.')))).toEqual([]);
      expect([...tree.values()].filter((n) => n.halfOpaque)).toEqual([]);
    }
    expect([...base.values()].filter((n) => n.what === 'whiteout' || n.opaque)).toEqual([]);
  });

  it('stacks to the expected tree, by overlay rules and by a real overlay mount', () => {
    const stacked = stackTrees(imported.layers.map((l) => readTree(l.dir)));
    expect(treeLines(stacked)).toEqual(EXPECTED_STACK);
    expect(treeHash(stacked)).toBe(sha256(EXPECTED_STACK.join('\n')).slice(7));

    const mnt = join(work, 'merged');
    mkdirSync(mnt);
    const lowers = imported.layers
      .map((l) => l.dir)
      .reverse()
      .join(':');
    const mount = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lowers}`, mnt], { encoding: 'utf8' });
    expect(mount.stderr).toBe('');
    mounts.push(mnt);
    try {
      expect(treeLines(readTree(mnt, { xattrs: false }))).toEqual(EXPECTED_STACK);
    } finally {
      spawnSync('umount', [mnt]);
      mounts.pop();
    }
  });

  it('verifies a layer it already holds instead of unpacking it again, and removes layers one by one', async () => {
    const again = await importBuffer(ociLayoutTar(image), store);
    expect(again.layers.map((l) => l.unpacked)).toEqual([false, false, false]);
    expect(again.layers.map((l) => l.dir)).toEqual(imported.layers.map((l) => l.dir));
    // a second image sharing the base: only its new layer is unpacked
    const other = buildImage([LAYERS[0], layerOf([f('extra', 'e')], 'gzip')]);
    const second = await importBuffer(ociLayoutTar(other), store);
    expect(second.layers.map((l) => l.unpacked)).toEqual([false, true]);
    expect(second.layers[0].dir).toBe(imported.layers[0].dir);
    expect(await removeLayer(store, second.layers[1].diffId)).toBe(true);
    expect(await removeLayer(store, second.layers[1].diffId)).toBe(false);
    expect((await listLayers(store)).map((l) => l.diffId).sort()).toEqual(imported.layers.map((l) => l.diffId).sort());
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
  });
});

describe('archive formats and compression', () => {
  it('gives the same layer trees from an OCI layout, a legacy docker save and a Docker 25 save', async () => {
    const plain = buildImage(
      LAYERS.map((l) => ({ ...l, compression: 'none' as const })),
      RUN,
    );
    const results: ImportedImage[] = [];
    const trees: string[][] = [];
    for (const [format, archive] of [
      ['oci-layout', ociLayoutTar(image)],
      ['docker-save', dockerSaveTar(plain)],
      ['docker-save-oci', docker25Tar(plain)],
    ] as const) {
      const imported = await importBuffer(archive, freshStore());
      expect(imported.format).toBe(format);
      results.push(imported);
      trees.push(imported.layers.flatMap((l, i) => treeLines(readTree(l.dir)).map((line) => `${i} ${line}`)));
    }
    expect(trees[1]).toEqual(trees[0]);
    expect(trees[2]).toEqual(trees[0]);
    for (const r of results) {
      expect(r.layers.map((l) => l.diffId)).toEqual(image.layers.map((l) => l.diffId));
      expect(r.config.cmd).toEqual(RUN.Cmd);
    }
    // gzip, zstd and plain blobs in the layout; plain tars in both saves
    expect(results[0].layers.map((l) => l.mediaType.split('.').pop())).toEqual(['tar+gzip', 'tar+zstd', 'tar']);
    expect(results[1].configDigest).toBe(plain.configDigest);
    expect(results[2].manifestDigest).toBe(plain.manifestDigest);
  });

  it('takes a gzip- or zstd-compressed archive, and a rootfs tarball as a one-layer image', async () => {
    const gz = await importBuffer(gzipSync(ociLayoutTar(image)), freshStore());
    expect(gz.manifestDigest).toBe(image.manifestDigest);
    const rootfsTar = rawTar(BASE);
    const rootfs = await importBuffer(gzipSync(rootfsTar), freshStore());
    expect(rootfs.format).toBe('rootfs');
    expect(rootfs.layers).toHaveLength(1);
    expect(rootfs.layers[0]).toMatchObject({ diffId: sha256(rootfsTar), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    expect(lineOf(readTree(rootfs.layers[0].dir), 'bin/su')).toBe(`bin/su file ${short('su')} 4755 0:0`);
  });

  it('picks this node platform from an index of several, and names the platforms when none fits', async () => {
    const foreign = buildImage([layerOf([f('arm', 'arm')])], {}, 'riscv64');
    const entry = (img: FixtureImage, architecture: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: img.manifestDigest,
      size: img.manifest.length,
      platform: { os: 'linux', architecture },
    });
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const index = { schemaVersion: 2, manifests: [entry(foreign, 'riscv64'), entry(image, arch)] };
    const both = ociLayoutFiles(image, index, [foreign.manifest, foreign.config, foreign.layers[0].blob]);
    const picked = await importBuffer(ociLayoutTar(image, both), freshStore());
    expect(picked.manifestDigest).toBe(image.manifestDigest);

    const store = freshStore();
    const onlyForeign = ociLayoutFiles(foreign, {
      schemaVersion: 2,
      manifests: [entry(foreign, 'riscv64'), { ...entry(foreign, 's390x'), digest: sha256('x') }],
    });
    await refused(
      ociLayoutTar(foreign, onlyForeign),
      store,
      /no image for this node's platform linux\/\w+; it has: linux\/riscv64, linux\/s390x/,
    );
    expect(storeLeftovers(store)).toEqual([]);
  });
});

describe('refusals leave nothing on disk', () => {
  it('refuses a layer blob that does not match its digest', async () => {
    const files = ociLayoutFiles(image);
    const name = `blobs/sha256/${image.layers[2].digest.slice(7)}`;
    const tampered = Buffer.from(files.get(name) as Buffer);
    tampered[600] ^= 0xff; // inside the first file's data: still a valid tar
    files.set(name, tampered);
    const store = freshStore();
    await refused(
      ociLayoutTar(image, files),
      store,
      new RegExp(`blob ${image.layers[2].digest} \\(layer 3 of 3\\) does not match its digest`),
    );
    expect(storeLeftovers(store)).toEqual([]);
  });

  it('refuses a layer whose uncompressed content is not the diff_id the config lists', async () => {
    const wrong = buildImage(LAYERS);
    const config = JSON.parse(wrong.config.toString());
    config.rootfs.diff_ids[1] = sha256('something else');
    const lying = rebuildWithConfig(wrong, Buffer.from(JSON.stringify(config)));
    const store = freshStore();
    await refused(ociLayoutTar(lying), store, /layer 2 of 3 .*not the diff_id sha256:/);
    expect(storeLeftovers(store)).toEqual([]);
    // and a legacy save, whose layers have no digest but the diff_id
    await refused(dockerSaveTar(lying), store, /layer 2 of 3 .*not the diff_id/);
    expect(storeLeftovers(store)).toEqual([]);
  });

  it('refuses a manifest or config blob that does not match its descriptor', async () => {
    const files = ociLayoutFiles(image);
    files.set(
      `blobs/sha256/${image.configDigest.slice(7)}`,
      Buffer.from(JSON.stringify({ ...JSON.parse(image.config.toString()), os: 'linuX' }).padEnd(image.config.length)),
    );
    const store = freshStore();
    await refused(ociLayoutTar(image, files), store, new RegExp(`blob ${image.configDigest} \\(the config of manifest`));
    expect(storeLeftovers(store)).toEqual([]);
  });

  it('names what it found in an archive that is none of the formats', async () => {
    const store = freshStore();
    await refused(Buffer.from('PK\x03\x04 not really a zip'), store, /a zip archive, not a tar/);
    await refused(Buffer.alloc(0), store, /not a tar: it is empty/);
    await refused(
      rawTar([f('manifest.json', JSON.stringify([{ Config: 'gone.json', Layers: [] }]))]),
      store,
      /top level holds manifest.json but no config it names \(gone.json\)/,
    );
    await refused(rawTar([d('blobs/'), f('index.json', '{}')]), store, /holds index.json, blobs\/ but no oci-layout/);
    await refused(rawTar([f('repositories', '{}'), f('abc/json', '{}')]), store, /before Docker 1.10/);
    expect(storeLeftovers(store)).toEqual([]);
  });
});

/** The image with another config: the manifest and index follow, so only the diff_ids lie. */
function rebuildWithConfig(img: FixtureImage, config: Buffer): FixtureImage {
  const manifest = JSON.parse(img.manifest.toString());
  manifest.config.digest = sha256(config);
  manifest.config.size = config.length;
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { ...img, config, configDigest: sha256(config), manifest: manifestBytes, manifestDigest: sha256(manifestBytes) };
}

describe('hostile layers', () => {
  const canary = join(work, 'canary');
  mkdirSync(join(canary, 'victim-dir'), { recursive: true });
  spawnSync('sh', ['-c', `echo secret > ${canary}/victim; echo inner > ${canary}/victim-dir/file`]);

  const cases: Array<{ label: string; layers: RawEntry[][] }> = [
    {
      label: 'a symlink in layer 1 and a write through it in layer 2',
      layers: [[{ name: 'escape', type: 'symlink', linkname: canary }], [f('escape/victim', 'pwned')]],
    },
    {
      label: 'a relative symlink out and a write through it',
      layers: [[{ name: 'up', type: 'symlink', linkname: '../../../../../../../..' }], [f(`up${canary}/victim`, 'pwned')]],
    },
    {
      label: 'a symlink and a write through it in one layer',
      layers: [[{ name: 'escape', type: 'symlink', linkname: canary }, f('escape/victim', 'pwned')]],
    },
    { label: 'a ../ path', layers: [[f('../../canary/victim', 'pwned')]] },
    { label: 'an absolute path', layers: [[f(`${canary}/victim`, 'pwned')]] },
    { label: 'a whiteout named ..', layers: [[d('a/'), f('a/.wh...', '')]] },
    { label: 'a whiteout of ../x', layers: [[f('../.wh.victim', '')]] },
    {
      label: 'a whiteout through a symlink of the same layer',
      layers: [[{ name: 'escape', type: 'symlink', linkname: canary }, f('escape/.wh.victim', '')]],
    },
    {
      label: 'an opaque marker through a symlink of the same layer',
      layers: [[{ name: 'escape', type: 'symlink', linkname: canary }, f('escape/.wh..wh..opq', '')]],
    },
    {
      label: 'a whiteout through a lower layer symlink',
      layers: [[{ name: 'escape', type: 'symlink', linkname: canary }], [f('escape/.wh.victim', ''), f('escape/.wh..wh..opq', '')]],
    },
    {
      label: 'a directory replaced by a symlink after its whiteout',
      layers: [[f('d/.wh.victim', ''), { name: 'd', type: 'symlink', linkname: canary }]],
    },
    { label: 'a .wh. directory', layers: [[f('.wh.dir/file', 'x')]] },
    { label: 'a hard link to a host file', layers: [[{ name: 'h', type: 'link', linkname: `${canary}/victim` }]] },
  ];

  it('writes nothing outside the layer directories and leaves the canary as it was', async () => {
    const before = snapshotTree(canary);
    const besideStores = readdirSync(work).filter((n) => !n.startsWith('store-'));
    const outcomes: string[] = [];
    for (const c of cases) {
      const store = freshStore();
      const img = buildImage(c.layers.map((entries) => layerOf(entries, 'gzip')));
      const outcome = await importBuffer(ociLayoutTar(img), store).then(
        (r) => `imported (${r.layers.length})`,
        (e: NativeError) => `${e.code}`,
      );
      outcomes.push(`${c.label}: ${outcome}`);
      expect(snapshotTree(canary), c.label).toEqual(before);
      expect(readdirSync(join(store, 'staging')), c.label).toEqual([]);
      // nothing appeared beside the stores and the canary
      expect(readdirSync(work).filter((n) => !n.startsWith('store-'))).toEqual(besideStores);
    }
    expect(outcomes).toEqual([
      'a symlink in layer 1 and a write through it in layer 2: imported (2)',
      'a relative symlink out and a write through it: imported (2)',
      'a symlink and a write through it in one layer: INVALID_INPUT',
      'a ../ path: INVALID_INPUT',
      'an absolute path: imported (1)',
      'a whiteout named ..: INVALID_INPUT',
      'a whiteout of ../x: INVALID_INPUT',
      'a whiteout through a symlink of the same layer: INVALID_INPUT',
      'an opaque marker through a symlink of the same layer: INVALID_INPUT',
      'a whiteout through a lower layer symlink: imported (2)',
      'a directory replaced by a symlink after its whiteout: imported (1)',
      'a .wh. directory: INVALID_INPUT',
      'a hard link to a host file: INVALID_INPUT',
    ]);
  });

  it('keeps a write through a lower layer symlink inside its own layer, where it replaces the symlink', async () => {
    const img = buildImage([layerOf([{ name: 'escape', type: 'symlink', linkname: canary }]), layerOf([f('escape/victim', 'pwned')])]);
    const imported = await importBuffer(ociLayoutTar(img), freshStore());
    const [lower, upper] = imported.layers.map((l) => readTree(l.dir));
    expect(lineOf(lower, 'escape')).toBe(`escape symlink -> ${canary} 777 0:0`);
    expect(lineOf(upper, 'escape')).toBe('escape dir 755 0:0');
    expect(lineOf(upper, 'escape/victim')).toBe(`escape/victim file ${short('pwned')} 644 0:0`);
    expect(lineOf(stackTrees([lower, upper]), 'escape')).toBe('escape dir 755 0:0');
  });
});

describe('concurrent imports', () => {
  it('of the same layers both succeed, with one directory per layer and no staging left', async () => {
    const store = freshStore();
    const archive = ociLayoutTar(image);
    const [a, b] = await Promise.all([importBuffer(archive, store), importBuffer(archive, store)]);
    expect(a.layers.map((l) => l.dir)).toEqual(b.layers.map((l) => l.dir));
    expect((await listLayers(store)).length).toBe(3);
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
    const stacked = stackTrees(a.layers.map((l) => readTree(l.dir)));
    expect(treeLines(stacked)).toEqual(EXPECTED_STACK);
  });
});
