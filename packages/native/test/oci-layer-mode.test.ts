// A layer directory is named by its diff_id alone, but a rootfs tarball unpacks without OCI
// whiteouts (a `.wh.` entry stays a file) while an image layer of the very same tar unpacks with
// them. One project importing a public layer's tar as a rootfs tarball must not decide what
// another project's image of that layer looks like: its whiteouts must still hide what they hide.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';

import { importImage, unpackPackedLayers } from '@nagaya/native';
import { readTree, treeHash } from './support/layer-trees';
import { buildImage, dockerSaveTar, layerOf, ociLayoutTar, sha256 } from './support/oci-fixtures';
import { rawTar } from './support/raw-tar';
import { BASE, f, LIMITS, lineOf, MIDDLE, OPTIONS, storeMaker } from './support/oci-sample-image';

const work = mkdtempSync(join(tmpdir(), 'nagaya-oci-layer-mode-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const { freshStore, importBuffer } = storeMaker(work);
const importDeferred = (archive: Buffer, store: string) => importImage(Readable.from([archive]), store, { ...OPTIONS, deferUnpack: true });

// the victim's image: a base, then a layer that removes etc/hostname and makes usr/share/doc opaque
const middleTar = rawTar(MIDDLE);
const victim = buildImage([layerOf(BASE, 'gzip'), { tar: middleTar, compression: 'gzip' }]);

describe('a layer unpacked from a rootfs tarball', () => {
  it("does not stand for another image's OCI layer of the same tar (eager import)", async () => {
    const reference = freshStore();
    const truth = await importBuffer(ociLayoutTar(victim), reference);
    expect(lineOf(readTree(truth.layers[1].dir), 'etc/hostname')).toMatch(/^etc\/hostname whiteout/);

    const shared = freshStore();
    // the attacker's project: the same tar, uploaded as a rootfs tarball first
    const rootfs = await importBuffer(middleTar, shared);
    expect(rootfs.layers[0].diffId).toBe(victim.layers[1].diffId);
    // the victim's project: the OCI image
    const imported = await importBuffer(ociLayoutTar(victim), shared);
    const tree = readTree(imported.layers[1].dir);
    expect(lineOf(tree, 'etc/.wh.hostname')).toMatch(/missing/);
    expect(lineOf(tree, 'etc/hostname')).toMatch(/^etc\/hostname whiteout/);
    expect(treeHash(tree)).toBe(treeHash(readTree(truth.layers[1].dir)));
  });

  it("does not stand for another image's OCI layer of the same tar (deferred import)", async () => {
    const reference = freshStore();
    const truth = await importBuffer(ociLayoutTar(victim), reference);

    const shared = freshStore();
    await importBuffer(middleTar, shared);
    const imported = await importDeferred(ociLayoutTar(victim), shared);
    // the layer the store held was only hashed: the image uses that directory as it is
    expect(imported.layers[1].checked).toBe(true);
    expect(treeHash(readTree(imported.layers[1].dir))).toBe(treeHash(readTree(truth.layers[1].dir)));
  });
});

describe('a legacy docker save that lists one diff_id twice', () => {
  it('has its second layer.tar checked against the diff_id too when the import is deferred', async () => {
    // config: [D, D]; the first layer.tar is D, the second is other bytes (not a symlink to the first)
    const honest = buildImage([layerOf(BASE, 'none'), layerOf([f('junk', 'not the first layer')], 'none')]);
    const config = JSON.parse(honest.config.toString()) as { rootfs: { diff_ids: string[] } };
    config.rootfs.diff_ids[1] = config.rootfs.diff_ids[0]!;
    const archive = dockerSaveTar({ ...honest, config: Buffer.from(JSON.stringify(config)), configDigest: sha256(JSON.stringify(config)) });
    const eager = await importBuffer(archive, freshStore()).then(
      () => 'accepted',
      () => 'refused at import',
    );
    expect(eager).toBe('refused at import');
    const store = freshStore();
    const deferred = await importDeferred(archive, store).then(
      async (img) => {
        const checked = await unpackPackedLayers(
          store,
          img.layers.map((l) => ({ diffId: l.diffId, digest: l.digest })),
          LIMITS,
        );
        return checked.some((c) => c.refusal) ? 'refused at unpack' : 'accepted';
      },
      () => 'refused at import',
    );
    expect(deferred).not.toBe('accepted');
  });
});
