// importImage with deferUnpack, then unpackPackedLayers, through the real extractor into real
// stores: the layers come out identical to an eager import's; what an eager import refuses at
// once (a digest lie) is still refused at import, and what it can only see by decompressing (a
// diff_id lie, a hostile layer) is refused at unpack, leaving no layer and no blob to retry;
// only an image's own blobs are read (by diff_id and digest), so an image cannot get another
// image's layer by naming its diff_id, nor spoil it.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';

import { importImage, layerDir, listPacked, NativeError, unpackPackedLayers } from '@nagaya/native';
import { snapshotTree } from './support/canary';
import type { RawEntry } from './support/raw-tar';
import { readTree, treeHash } from './support/layer-trees';
import { buildImage, dockerSaveTar, imageWithConfig, layerOf, ociLayoutFiles, ociLayoutTar, sha256 } from './support/oci-fixtures';
import { f, image, LIMITS, OPTIONS, storeLeftovers, storeMaker } from './support/oci-sample-image';

const work = mkdtempSync(join(tmpdir(), 'nagaya-oci-deferred-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const { freshStore, importBuffer } = storeMaker(work);
const importDeferred = (archive: Buffer, store: string) => importImage(Readable.from([archive]), store, { ...OPTIONS, deferUnpack: true });
const blobsOf = (img: { layers: Array<{ diffId: string; digest: string }> }) =>
  img.layers.map((l) => ({ diffId: l.diffId, digest: l.digest }));

async function refusedWith(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => {
      throw new Error('succeeded where it should have been refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NativeError);
  expect({ code: (err as NativeError).code, message: (err as NativeError).message }).toMatchObject({
    code: 'INVALID_INPUT',
    message: expect.stringMatching(message),
  });
}

describe('a deferred import', () => {
  const eager = freshStore();
  const store = freshStore();

  it('keeps each layer packed, verified by digest, and unpacks nothing', async () => {
    const imported = await importDeferred(ociLayoutTar(image), store);
    expect(imported.manifestDigest).toBe(image.manifestDigest);
    expect(imported.layers.map((l) => [l.diffId, l.digest, l.compressedSize, l.size, l.packed, l.unpacked])).toEqual(
      image.layers.map((l) => [l.diffId, l.digest, l.blob.length, l.blob.length, true, false]),
    );
    expect(imported.totalSize).toBe(image.layers.reduce((s, l) => s + l.blob.length, 0));
    expect(storeLeftovers(store)).toEqual([]);
    expect((await listPacked(store)).map((p) => [p.diffId, p.digest])).toEqual(
      image.layers.map((l) => [l.diffId, l.digest]).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    );
  });

  it('unpacks to the same layers as an eager import, and gives the packed blobs up', async () => {
    const imported = await importBuffer(ociLayoutTar(image), eager);
    const ensured = await unpackPackedLayers(store, blobsOf(image), LIMITS);
    expect(ensured.map((e) => [e.diffId, e.checked, e.present, e.size, e.refusal])).toEqual(
      image.layers.map((l) => [l.diffId, true, true, l.tar.length, undefined]),
    );
    for (const [i, layer] of imported.layers.entries()) {
      expect(treeHash(readTree(ensured[i].dir))).toBe(treeHash(readTree(layer.dir)));
    }
    expect(await listPacked(store)).toEqual([]);
    // a second call finds no packed blob left to check, and the layer there
    const again = await unpackPackedLayers(store, blobsOf(image).slice(0, 1), LIMITS);
    expect(again).toEqual([{ ...blobsOf(image)[0], dir: layerDir(store, image.layers[0].diffId), present: true, checked: false }]);
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
  });

  it('checks a layer the store holds unpacked in full, so a blob cannot borrow its diff_id', async () => {
    // a private layer's diff_id named beside a blob that is something else
    const secret = layerOf([f('secret', 'private')], 'gzip');
    const owner = buildImage([secret]);
    await importBuffer(ociLayoutTar(owner), store);
    const borrower = buildImage([layerOf([f('other', 'x')], 'gzip')]);
    const config = JSON.parse(borrower.config.toString());
    config.rootfs.diff_ids[0] = owner.layers[0].diffId;
    await refusedWith(
      importDeferred(ociLayoutTar(imageWithConfig(borrower, Buffer.from(JSON.stringify(config)))), store),
      /not the diff_id/,
    );
    expect(await listPacked(store)).toEqual([]);
  });

  it('refuses a blob that does not match its digest at import, leaving nothing', async () => {
    const fresh = freshStore();
    const files = ociLayoutFiles(image);
    const name = `blobs/sha256/${image.layers[1].digest.slice(7)}`;
    const blob = Buffer.from(files.get(name)!);
    blob[blob.length - 1] ^= 1;
    files.set(name, blob);
    await refusedWith(importDeferred(ociLayoutTar(image, files), fresh), /layer 2 of 3\) does not match its digest/);
    expect(storeLeftovers(fresh)).toEqual([]);
    expect(await listPacked(fresh)).toEqual([]);
  });
});

describe('what only unpacking can see', () => {
  it('a diff_id lie: imported, then refused at unpack with no layer and no blob left', async () => {
    const store = freshStore();
    const config = JSON.parse(image.config.toString());
    const claimed = sha256('something else');
    config.rootfs.diff_ids[1] = claimed;
    const liar = await importDeferred(ociLayoutTar(imageWithConfig(image, Buffer.from(JSON.stringify(config)))), store);
    const [checked] = await unpackPackedLayers(store, [{ diffId: claimed, digest: liar.layers[1]!.digest }], LIMITS);
    expect(checked).toMatchObject({ checked: false, present: false, refusal: { code: 'INVALID_INPUT' } });
    expect(checked!.refusal!.message).toMatch(/not the diff_id sha256:/);
    expect(existsSync(layerDir(store, claimed))).toBe(false);
    expect(await listPacked(store, claimed)).toEqual([]);
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
  });

  it('reads only the blob of the pair asked for: a false blob under a true diff_id neither serves nor spoils it', async () => {
    const store = freshStore();
    const target = image.layers[0]!;
    const liarImage = buildImage([layerOf([f('fake', 'f')], 'gzip')]);
    const config = JSON.parse(liarImage.config.toString());
    config.rootfs.diff_ids[0] = target.diffId;
    const liar = await importDeferred(ociLayoutTar(imageWithConfig(liarImage, Buffer.from(JSON.stringify(config)))), store);
    await importDeferred(ociLayoutTar(image), store);
    expect((await listPacked(store, target.diffId)).length).toBe(2);
    // the true pair unpacks and leaves the false one where it is
    const [honest] = await unpackPackedLayers(store, [{ diffId: target.diffId, digest: target.digest }], LIMITS);
    expect(honest).toMatchObject({ checked: true, present: true, size: target.tar.length });
    expect((await listPacked(store, target.diffId)).map((p) => p.digest)).toEqual([liar.layers[0]!.digest]);
    // the false pair is checked against the layer now there, and refused
    const [borrowed] = await unpackPackedLayers(store, [{ diffId: target.diffId, digest: liar.layers[0]!.digest }], LIMITS);
    expect(borrowed).toMatchObject({ checked: false, present: true, refusal: { code: 'INVALID_INPUT' } });
    expect(await listPacked(store, target.diffId)).toEqual([]);
  });

  it('hostile layers get at unpack what an eager import gives them, and the host files stay as they were', async () => {
    const canary = join(work, 'canary');
    mkdirSync(canary, { recursive: true });
    writeFileSync(join(canary, 'victim'), 'secret\n');
    const before = snapshotTree(canary);
    const cases: Array<[string, RawEntry[][]]> = [
      [
        'a symlink in layer 1 and a write through it in layer 2',
        [[{ name: 'escape', type: 'symlink', linkname: canary }], [f('escape/victim', 'pwned')]],
      ],
      [
        'a symlink and a write through it in one layer',
        [[{ name: 'escape', type: 'symlink', linkname: canary }, f('escape/victim', 'pwned')]],
      ],
      ['a ../ path', [[f('../../canary/victim', 'pwned')]]],
      ['a whiteout of ../x', [[f('../.wh.victim', '')]]],
      ['a hard link to a host file', [[{ name: 'h', type: 'link', linkname: `${canary}/victim` }]]],
    ];
    const outcomes: string[] = [];
    for (const [label, layers] of cases) {
      const store = freshStore();
      const hostile = buildImage(layers.map((entries) => layerOf(entries, 'gzip')));
      await importDeferred(ociLayoutTar(hostile), store);
      const checked = await unpackPackedLayers(store, blobsOf(hostile), LIMITS);
      const refusal = checked.find((c) => c.refusal)?.refusal;
      const outcome = refusal ? refusal.code : `unpacked (${checked.filter((c) => c.checked && c.present).length})`;
      outcomes.push(`${label}: ${outcome}`);
      expect(snapshotTree(canary), label).toEqual(before);
      expect(readdirSync(join(store, 'staging')), label).toEqual([]);
    }
    expect(outcomes).toEqual([
      'a symlink in layer 1 and a write through it in layer 2: unpacked (2)',
      'a symlink and a write through it in one layer: INVALID_INPUT',
      'a ../ path: INVALID_INPUT',
      'a whiteout of ../x: INVALID_INPUT',
      'a hard link to a host file: INVALID_INPUT',
    ]);
  });

  it('a gzip bomb packed at import is stopped at the unpacked limit when it unpacks, with nothing left', async () => {
    const store = freshStore();
    // 8 MiB of zeros, a few KB gzipped: the import only hashes the blob, the unpack meets the limit
    const bomb = buildImage([layerOf([f('zeros', '\0'.repeat(8 * 1024 * 1024))], 'gzip')]);
    expect(bomb.layers[0]!.blob.length).toBeLessThan(64 * 1024);
    await importDeferred(ociLayoutTar(bomb), store);
    const [checked] = await unpackPackedLayers(store, blobsOf(bomb), { ...LIMITS, maxBytes: 1024 * 1024 });
    expect(checked).toMatchObject({ checked: false, present: false, refusal: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(existsSync(layerDir(store, bomb.layers[0]!.diffId))).toBe(false);
    expect(await listPacked(store)).toEqual([]);
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
  });

  it('two unpacks of the same layers at once both succeed, with one directory per layer', async () => {
    const store = freshStore();
    // a legacy save's blobs are its layer.tar files: their digests are its own, not the layout's
    const saved = await importDeferred(dockerSaveTar(image), store);
    const diffIds = image.layers.map((l) => l.diffId);
    const [a, b] = await Promise.all([
      unpackPackedLayers(store, blobsOf(saved), LIMITS),
      unpackPackedLayers(store, blobsOf(saved), LIMITS),
    ]);
    expect([...a, ...b].map((l) => [l.present, l.refusal?.message])).toEqual([...a, ...b].map(() => [true, undefined]));
    // each blob checked once or twice (both read it before either removed it), never by neither
    expect(a.map((l, i) => l.checked || b[i]!.checked)).toEqual([true, true, true]);
    expect(a.map((l) => l.dir)).toEqual(b.map((l) => l.dir));
    expect(readdirSync(join(store, 'layers/sha256')).sort()).toEqual(diffIds.map((d) => d.slice(7)).sort());
    expect(await listPacked(store)).toEqual([]);
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
  });
});
