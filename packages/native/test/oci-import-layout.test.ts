// importImageLayout: an OCI layout directory read in place (a pull's), through the same resolver,
// digests and extractor as an archive: the same image as its tar gives; with blobsVerified, a
// deferred import moves the layer blobs into the store; without it every blob is hashed; a
// symlink in the layout is never followed.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { importImageLayout, listPacked, NativeError, unpackPackedLayers } from '@nagaya/native';
import { readTree, treeHash } from './support/layer-trees';
import { ociLayoutFiles, ociLayoutTar } from './support/oci-fixtures';
import { image, LIMITS, storeLeftovers, storeMaker } from './support/oci-sample-image';

const work = mkdtempSync(join(tmpdir(), 'nagaya-oci-layout-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const { freshStore, importBuffer } = storeMaker(work);
let layouts = 0;

function writeLayout(files = ociLayoutFiles(image)): string {
  const dir = join(work, `layout-${layouts++}`);
  for (const [name, body] of files) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), body);
  }
  return dir;
}

const blobFile = (layout: string, digest: string) => join(layout, 'blobs/sha256', digest.slice(7));

describe('importing a layout directory in place', () => {
  it('gives the image its tar gives: the same manifest and the same layer trees', async () => {
    const fromTar = await importBuffer(ociLayoutTar(image), freshStore());
    const fromDir = await importImageLayout(writeLayout(), freshStore(), { layerLimits: LIMITS });
    expect(fromDir.manifestDigest).toBe(fromTar.manifestDigest);
    expect(fromDir.layers.map((l) => [l.diffId, l.digest, l.size])).toEqual(fromTar.layers.map((l) => [l.diffId, l.digest, l.size]));
    for (const [i, layer] of fromDir.layers.entries())
      expect(treeHash(readTree(layer.dir))).toBe(treeHash(readTree(fromTar.layers[i]!.dir)));
  });

  it('moves verified layer blobs into the store when deferring, and they unpack from there', async () => {
    const layout = writeLayout();
    const store = freshStore();
    const imported = await importImageLayout(layout, store, { layerLimits: LIMITS, deferUnpack: true, blobsVerified: true });
    expect(imported.layers.map((l) => [l.packed, l.size])).toEqual(image.layers.map((l) => [true, l.blob.length]));
    for (const l of image.layers) expect(existsSync(blobFile(layout, l.digest))).toBe(false);
    expect((await listPacked(store)).length).toBe(3);
    const ensured = await unpackPackedLayers(
      store,
      image.layers.map((l) => ({ diffId: l.diffId, digest: l.digest })),
      LIMITS,
    );
    expect(ensured.map((e) => e.size)).toEqual(image.layers.map((l) => l.tar.length));
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
  });

  it('hashes every blob when they were not verified, refusing a changed one with nothing left', async () => {
    const files = ociLayoutFiles(image);
    const name = `blobs/sha256/${image.layers[0]!.digest.slice(7)}`;
    const blob = Buffer.from(files.get(name)!);
    blob[blob.length - 1] ^= 1;
    files.set(name, blob);
    const store = freshStore();
    for (const deferUnpack of [true, false]) {
      const err = await importImageLayout(writeLayout(files), store, { layerLimits: LIMITS, deferUnpack }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NativeError);
      // unpacking, gunzip's own check may speak first
      expect((err as NativeError).message).toMatch(/layer 1 of 3(\) does not match its digest| is not valid gzip)/);
      expect(storeLeftovers(store)).toEqual([]);
      expect(await listPacked(store)).toEqual([]);
    }
  });

  it('follows no symlink: a blob that is a link to a host file is missing', async () => {
    const files = ociLayoutFiles(image);
    const name = `blobs/sha256/${image.layers[1]!.digest.slice(7)}`;
    files.delete(name);
    const layout = writeLayout(files);
    symlinkSync('/etc/hostname', join(layout, name));
    const err = await importImageLayout(layout, freshStore(), { layerLimits: LIMITS, deferUnpack: true, blobsVerified: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/has no blob .* is missing/) });
  });
});
