// importImage on hand-written archives (support/oci-fixtures.ts, support/oci-sample-image.ts),
// through the real extractor into a real store: the unpacked layers (whiteout devices, opaque
// xattrs, setuid bits, owners), the stacked tree by overlay's rules, by a real read-only overlay
// mount and by umoci unpack, the three archive formats giving the same layers, gzip/zstd/plain
// layers, shared, repeated and concurrent layers. Refusals are in oci-import-refusals.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';

import { blobPath, type ImportedImage, importImage, layerDir, listBlobs, listLayers, removeBlob, removeLayer } from '@nagaya/native';
import { readTree, stackTrees, treeHash, treeLines } from './support/layer-trees';
import {
  buildImage,
  docker25Tar,
  dockerSaveTar,
  type FixtureImage,
  layerOf,
  ociLayoutFiles,
  ociLayoutTar,
  sha256,
} from './support/oci-fixtures';
import {
  BASE,
  d,
  EXPECTED_STACK,
  f,
  image,
  LAYERS,
  lineOf,
  OPTIONS,
  refused,
  RUN,
  short,
  storeLeftovers,
  storeMaker,
} from './support/oci-sample-image';
import { commitLayer, ensureLayerStore } from '../src/oci/layer-store';
import { rawTar } from './support/raw-tar';

const work = mkdtempSync(join(tmpdir(), 'nagaya-oci-import-'));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  rmSync(work, { recursive: true, force: true });
});
const { freshStore, importBuffer } = storeMaker(work);

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

  it('stacks to the tree umoci unpack makes of the same layout', async () => {
    // umoci 0.4 (Debian 12) reads no zstd layer: the same layers, gzip and plain
    const gzipOnly = buildImage(
      LAYERS.map((l) => ({ ...l, compression: l.compression === 'zstd' ? ('gzip' as const) : l.compression })),
      RUN,
    );
    const layout = join(work, 'umoci-layout');
    for (const [name, body] of ociLayoutFiles(gzipOnly)) {
      mkdirSync(dirname(join(layout, name)), { recursive: true });
      writeFileSync(join(layout, name), body);
    }
    const bundle = join(work, 'umoci-bundle');
    const umoci = spawnSync('umoci', ['unpack', '--image', `${layout}:latest`, bundle], { encoding: 'utf8' });
    expect(umoci.error?.message ?? umoci.stderr).toBe('');
    const ours = await importBuffer(ociLayoutTar(gzipOnly), freshStore());
    expect(treeLines(stackTrees(ours.layers.map((l) => readTree(l.dir))))).toEqual(
      treeLines(readTree(join(bundle, 'rootfs'), { xattrs: false })),
    );
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

  it('reads a repeated layer once: a legacy save links it, a layout lists its blob twice', async () => {
    const empty = layerOf([d('tmp/')], 'none');
    const repeated = buildImage([LAYERS[0], empty, layerOf([f('x', 'x')], 'none'), empty]);
    for (const archive of [dockerSaveTar(repeated), ociLayoutTar(repeated)]) {
      const imported = await importBuffer(archive, freshStore());
      expect(imported.layers.map((l) => l.unpacked)).toEqual([true, true, true, false]);
      expect(imported.layers[3].dir).toBe(imported.layers[1].dir);
      expect(await listLayers(imported.layers[0].dir.replace(/\/layers\/sha256\/.*/, ''))).toHaveLength(3);
    }
  });

  it('takes a gzip- or zstd-compressed archive, and a rootfs tarball as a one-layer image', async () => {
    const gz = await importBuffer(gzipSync(ociLayoutTar(image)), freshStore());
    expect(gz.manifestDigest).toBe(image.manifestDigest);
    const rootfsTar = rawTar(BASE);
    const rootfs = await importBuffer(gzipSync(rootfsTar), freshStore());
    expect(rootfs.format).toBe('rootfs');
    expect(rootfs.layers).toHaveLength(1);
    // its layer blob is the tar itself, whatever compression the upload had
    expect(rootfs.layers[0]).toMatchObject({
      diffId: sha256(rootfsTar),
      digest: sha256(rootfsTar),
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
    });
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
      importBuffer,
      ociLayoutTar(foreign, onlyForeign),
      store,
      /no image for this node's platform linux\/\w+; it has: linux\/riscv64, linux\/s390x/,
    );
    expect(storeLeftovers(store)).toEqual([]);
  });
});

describe('keeping blobs to push', () => {
  it('keeps the manifest, config and layer blobs as the archive had them, by digest', async () => {
    const store = freshStore();
    const imported = await importImage(Readable.from([ociLayoutTar(image)]), store, { ...OPTIONS, keepBlobs: true });
    const want = [image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)].sort();
    expect(await listBlobs(store)).toEqual(want);
    for (const digest of want) expect(sha256(readFileSync(blobPath(store, digest)))).toBe(digest);
    expect(sha256(imported.manifestJson)).toBe(image.manifestDigest);
    expect(sha256(imported.configJson)).toBe(image.configDigest);
    expect(await removeBlob(store, image.configDigest)).toBe(true);
    expect(await listBlobs(store)).toHaveLength(want.length - 1);
  });

  it('makes up a manifest for a docker save whose every blob it keeps', async () => {
    const store = freshStore();
    const plain = buildImage(
      LAYERS.map((l) => ({ ...l, compression: 'none' as const })),
      RUN,
    );
    const imported = await importImage(Readable.from([dockerSaveTar(plain)]), store, { ...OPTIONS, keepBlobs: true });
    const manifest = JSON.parse(imported.manifestJson);
    expect(sha256(imported.manifestJson)).toBe(imported.manifestDigest);
    // the legacy save's layers are plain tars: the manifest a registry would get is the OCI layout's
    expect(imported.manifestDigest).toBe(plain.manifestDigest);
    const named = [imported.manifestDigest, manifest.config.digest, ...manifest.layers.map((l: { digest: string }) => l.digest)];
    expect(await listBlobs(store)).toEqual([...new Set(named)].sort());
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

  it('lets the first rename into place win; the loser discards its copy and the winner stays whole', async () => {
    const store = freshStore();
    await ensureLayerStore(store);
    const diffId = sha256('a layer');
    const first = join(store, 'staging/first');
    const second = join(store, 'staging/second');
    for (const [dir, body] of [
      [first, 'first'],
      [second, 'second'],
    ]) {
      mkdirSync(dir);
      writeFileSync(join(dir, 'file'), body);
    }
    expect(await commitLayer(store, diffId, first)).toBe(true);
    expect(await commitLayer(store, diffId, second)).toBe(false);
    expect(readFileSync(join(layerDir(store, diffId), 'file'), 'utf8')).toBe('first');
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
  });
});
