// importImage refusing what it must, with nothing left in the store: digest and diff_id
// mismatches, archives that are none of the formats, decompression bombs and broken zstd, the
// spool limit, and the hostile-layer corpus (symlinks, '..', absolute paths, whiteouts aimed
// out of the layer) beside a canary that must not change.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';

import { extractArchive, importImage, type NativeError } from '@nagaya/native';
import { snapshotTree } from './support/canary';
import { readTree, stackTrees } from './support/layer-trees';
import { buildImage, imageWithConfig, layerOf, ociLayoutFiles, ociLayoutTar, dockerSaveTar, sha256 } from './support/oci-fixtures';
import { BASE, d, f, image, LAYERS, LIMITS, lineOf, OPTIONS, refused, short, storeLeftovers, storeMaker } from './support/oci-sample-image';
import { rawTar, type RawEntry } from './support/raw-tar';

const work = mkdtempSync(join(tmpdir(), 'nagaya-oci-refusals-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const { freshStore, importBuffer } = storeMaker(work);

describe('refusals leave nothing on disk', () => {
  it('refuses a layer blob that does not match its digest', async () => {
    const files = ociLayoutFiles(image);
    const name = `blobs/sha256/${image.layers[2].digest.slice(7)}`;
    const tampered = Buffer.from(files.get(name) as Buffer);
    tampered[600] ^= 0xff; // inside the first file's data: still a valid tar
    files.set(name, tampered);
    const store = freshStore();
    await refused(
      importBuffer,
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
    const lying = imageWithConfig(wrong, Buffer.from(JSON.stringify(config)));
    const store = freshStore();
    await refused(importBuffer, ociLayoutTar(lying), store, /layer 2 of 3 .*not the diff_id sha256:/);
    expect(storeLeftovers(store)).toEqual([]);
    // and a legacy save, whose layers have no digest but the diff_id
    await refused(importBuffer, dockerSaveTar(lying), store, /layer 2 of 3 .*not the diff_id/);
    expect(storeLeftovers(store)).toEqual([]);
  });

  it('refuses a manifest or config blob that does not match its descriptor', async () => {
    const files = ociLayoutFiles(image);
    files.set(
      `blobs/sha256/${image.configDigest.slice(7)}`,
      Buffer.from(JSON.stringify({ ...JSON.parse(image.config.toString()), os: 'linuX' }).padEnd(image.config.length)),
    );
    const store = freshStore();
    await refused(importBuffer, ociLayoutTar(image, files), store, new RegExp(`blob ${image.configDigest} \\(the config of manifest`));
    expect(storeLeftovers(store)).toEqual([]);
  });

  it('names what it found in an archive that is none of the formats', async () => {
    const store = freshStore();
    await refused(importBuffer, Buffer.from('PK\x03\x04 not really a zip'), store, /a zip archive, not a tar/);
    await refused(importBuffer, Buffer.alloc(0), store, /not a tar: it is empty/);
    await refused(
      importBuffer,
      rawTar([f('manifest.json', JSON.stringify([{ Config: 'gone.json', Layers: [] }]))]),
      store,
      /top level holds manifest.json but no config it names \(gone.json\)/,
    );
    await refused(importBuffer, rawTar([d('blobs/'), f('index.json', '{}')]), store, /holds index.json, blobs\/ but no oci-layout/);
    await refused(importBuffer, rawTar([f('repositories', '{}'), f('abc/json', '{}')]), store, /before Docker 1.10/);
    expect(storeLeftovers(store)).toEqual([]);
  });
});

describe('limits and broken compression', () => {
  it('stops a zstd or gzip bomb at the decompressed limit, with nothing left and no zstd running', async () => {
    const bomb = [f('zeros', '\0'.repeat(8 * 1024 * 1024))];
    for (const compression of ['zstd', 'gzip'] as const) {
      const img = buildImage([layerOf(bomb, compression)]);
      expect(img.layers[0].blob.length).toBeLessThan(64 * 1024);
      const store = freshStore();
      const err = await importImage(Readable.from([ociLayoutTar(img)]), store, {
        ...OPTIONS,
        layerLimits: { ...LIMITS, maxBytes: 1024 * 1024 },
      }).catch((e: NativeError) => e);
      expect(err).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      expect(storeLeftovers(store)).toEqual([]);
    }
    const zstds = spawnSync('pgrep', ['-P', String(process.pid), '-x', 'zstd'], { encoding: 'utf8' });
    expect(zstds.stdout.trim()).toBe('');
  });

  it('refuses a layer that is not valid zstd, naming the layer', async () => {
    const img = buildImage([layerOf(BASE, 'zstd')]);
    const broken = Buffer.from(img.layers[0].blob);
    broken.fill(0x55, 12, 40);
    const lying = { ...img, layers: [{ ...img.layers[0], blob: broken, digest: sha256(broken) }] };
    const manifest = JSON.parse(img.manifest.toString());
    manifest.layers[0].digest = sha256(broken);
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const store = freshStore();
    await refused(
      importBuffer,
      ociLayoutTar({ ...lying, manifest: manifestBytes, manifestDigest: sha256(manifestBytes) }),
      store,
      /layer 1 of 1 is not valid zstd/,
    );
    expect(storeLeftovers(store)).toEqual([]);
  });

  it('refuses an archive past the spool limit, and sweeps staging left by a process that is gone', async () => {
    const store = freshStore();
    mkdirSync(join(store, 'staging/999999999-dead'), { recursive: true });
    const err = await importImage(Readable.from([ociLayoutTar(image)]), store, { ...OPTIONS, maxArchiveBytes: 4096 }).catch(
      (e: NativeError) => e,
    );
    expect(err).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/archive .* larger than 4096 bytes/) });
    expect(storeLeftovers(store)).toEqual([]);
  });
});

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

describe('whiteouts under fuzzing', () => {
  /** mulberry32: the same seed gives the same sequences on every machine. */
  const prng = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  it('takes random sequences of whiteouts, opaque markers, symlinks and entries without leaving the layer or a .wh. name', async () => {
    const canary = join(work, 'whiteout-canary');
    mkdirSync(join(canary, 'dir'), { recursive: true });
    spawnSync('sh', ['-c', `echo keep > ${canary}/file; echo keep > ${canary}/dir/file`]);
    const before = snapshotTree(canary);
    const random = prng(0x77686974);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    // Mostly names a layer may hold, so that enough sequences get through to their end.
    const dirs = ['', '', 'a/', 'a/', 'a/b/', 'l/', 'c/', '/', '.wh.a/', '../'];
    const leaves = ['x', 'file', 'dir', 'b', '.wh.x', '.wh.file', '.wh.dir', '.wh.b', '.wh..wh..opq', '.wh..wh.plnk'];
    const hostileLeaves = ['.wh.', '.wh...', '.wh..'];
    const entryOf = (): RawEntry => {
      const name = `${pick(dirs)}${random() < 0.05 ? pick(hostileLeaves) : pick(leaves)}`;
      const kind = random();
      if (kind < 0.15) return { name: pick(['l', 'a/b', 'up', 'c/x']), type: 'symlink', linkname: pick([canary, '../../..', '/']) };
      if (kind < 0.35) return d(`${name}/`);
      if (kind < 0.4) return { name, type: 'link', linkname: pick(['a/x', `${canary}/file`, 'x']) };
      return f(name, 'content');
    };
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 150; i++) {
      const entries = Array.from({ length: 1 + Math.floor(random() * 8) }, entryOf);
      const dest = join(work, `fuzz-${i}`);
      const outcome = await extractArchive(Readable.from([rawTar(entries)]), dest, LIMITS, { ociLayer: true }).then(
        () => 'OK',
        (e: NativeError) => e.code,
      );
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      const label = `${i}: ${JSON.stringify(entries.map((e) => `${e.type ?? 'file'} ${e.name}${e.linkname ? ` -> ${e.linkname}` : ''}`))}`;
      expect(['OK', 'INVALID_INPUT'], label).toContain(outcome);
      expect(snapshotTree(canary), label).toEqual(before);
      expect(
        readdirSync(work).filter((n) => n.startsWith('fuzz-') && n !== `fuzz-${i}`),
        label,
      ).toEqual([]);
      if (outcome === 'OK') {
        for (const [rel, node] of readTree(dest)) {
          expect(
            rel.split('/').some((c) => c.startsWith('.wh.')),
            `${label}: ${rel}`,
          ).toBe(false);
          if (node.what.startsWith('char')) throw new Error(`${label}: ${rel} is a device that is no whiteout`);
        }
        rmSync(dest, { recursive: true });
      }
    }
    expect(outcomes.OK, JSON.stringify(outcomes)).toBeGreaterThan(30);
    expect(outcomes.INVALID_INPUT, JSON.stringify(outcomes)).toBeGreaterThan(30);
  });
});
