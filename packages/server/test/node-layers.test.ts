// A node's packed layers (imports that kept their blobs to unpack later), against a real
// Postgres and a real store: the reconciler counts a packed layer as held and removes a packed
// blob no image uses; ensure() unpacks an image's packed layers and records its user names,
// once for any number of concurrent askers.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { importImage, listPacked } from '@nagaya/native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../allocator/test/support/test-database';
import { buildImage, imageWithConfig, layerOf, ociLayoutTar, sha256 } from '../../native/test/support/oci-fixtures';
import { NagayaError } from '../src/errors';
import { ImageRecords } from '../src/images/image-records';
import { NodeLayers } from '../src/images/node-layers';
import { Db } from '../src/store/db';

const LIMITS = { maxBytes: 64 * 1024 * 1024, maxEntries: 10_000, maxDepth: 64 };
const work = mkdtempSync(join(tmpdir(), 'nagaya-node-layers-'));
const store = join(work, '.oci');
let tdb: TestDatabase;
let db: Db;
let records: ImageRecords;
let layers: NodeLayers;
const refusedImages: string[] = [];

const image = buildImage([
  layerOf([
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\nweb:x:101:102::/srv:/bin/sh\n' },
    { name: 'etc/group', body: 'root:x:0:\nweb:x:102:\n' },
  ]),
  layerOf([{ name: 'srv/index.html', body: 'hello\n' }], 'zstd'),
]);
const stray = buildImage([layerOf([{ name: 'stray', body: 'no image records me\n' }])]);
const importPacked = (archive: Buffer) =>
  importImage(Readable.from([archive]), store, { maxArchiveBytes: 64 * 1024 * 1024, layerLimits: LIMITS, deferUnpack: true });
const heldByNode = async () =>
  (await db.query<{ diff_id: string }>("SELECT diff_id FROM node_layer WHERE node = 'node-x' ORDER BY diff_id")).rows.map((r) => r.diff_id);

beforeAll(async () => {
  tdb = await createTestDatabase('nagaya_layers');
  db = new Db(tdb.url, 4);
  records = new ImageRecords(db, { project: 'default', source: 'built-in' });
  layers = new NodeLayers(store, LIMITS, records, undefined, { node: 'node-x' }, async (image) => {
    refusedImages.push(image.name);
  });
  const imported = await importPacked(ociLayoutTar(image));
  await records.insert({
    project: 'default',
    name: 'web',
    format: 'oci-layout',
    digest: imported.manifestDigest,
    config: { identitiesPending: true },
    layers: imported.layers.map((l) => ({ diffId: l.diffId, sizeBytes: l.size })),
    reference: null,
    files: 0,
    source: 'upload',
    node: 'node-x',
  });
  await importPacked(ociLayoutTar(stray));
});
afterAll(async () => {
  await db?.close();
  await tdb?.drop();
  rmSync(work, { recursive: true, force: true });
});

describe('packed layers on a node', () => {
  it('are held while packed; a packed blob no image uses is removed by the reconciler', async () => {
    await db.query("DELETE FROM node_layer WHERE node = 'node-x'");
    expect(await layers.reconcile(0)).toEqual({ removed: 1, recorded: 2, forgotten: 0 });
    expect(await heldByNode()).toEqual(image.layers.map((l) => l.diffId).sort());
    expect((await listPacked(store)).map((p) => p.diffId).sort()).toEqual(image.layers.map((l) => l.diffId).sort());
    expect(await layers.reconcile(0)).toEqual({ removed: 0, recorded: 0, forgotten: 0 });
  });

  it('unpack for concurrent askers at once, and the image gets its user names', async () => {
    const record = (await records.visible('default', 'web'))!;
    expect(record.config.identitiesPending).toBe(true);
    const dirs = await Promise.all([layers.dirsFor(record), layers.dirsFor(record), layers.ensure(record)]);
    expect(dirs[0]).toEqual(image.layers.map((l) => layers.layerPath(l.diffId)).reverse());
    expect(dirs[0]!.every((d) => existsSync(d))).toBe(true);
    expect(await listPacked(store)).toEqual([]);
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
    const after = (await records.visible('default', 'web'))!;
    expect(after.config).toEqual({ passwd: { root: [0, 0], web: [101, 102] }, groups: { root: 0, web: 102 } });
    // the reconciler sees the same layers, now unpacked
    expect(await layers.reconcile(0)).toEqual({ removed: 0, recorded: 0, forgotten: 0 });
  });

  it('refuse an image whose layer is not its diff_id, telling the image store once, and every later ask alike', async () => {
    const honest = buildImage([layerOf([{ name: 'x', body: 'x\n' }])]);
    const config = JSON.parse(honest.config.toString()) as { rootfs: { diff_ids: string[] } };
    config.rootfs.diff_ids[0] = sha256('not this layer');
    const imported = await importPacked(ociLayoutTar(imageWithConfig(honest, Buffer.from(JSON.stringify(config)))));
    await records.insert({
      project: 'default',
      name: 'liar',
      format: 'oci-layout',
      digest: imported.manifestDigest,
      config: { identitiesPending: true },
      layers: imported.layers.map((l) => ({ diffId: l.diffId, sizeBytes: l.size })),
      reference: null,
      files: 0,
      source: 'upload',
      node: 'node-x',
    });
    const record = (await records.visible('default', 'liar'))!;
    for (let ask = 0; ask < 2; ask++) {
      const err = await layers.ensure(record).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NagayaError);
      expect(err).toMatchObject({
        code: 'IMAGE_UNAVAILABLE',
        message: expect.stringMatching(
          /^image liar of project default cannot be unpacked: layer sha256:\w+ \(blob sha256:\w+\): .*not the diff_id/,
        ),
        details: { reason: 'bad-content' },
      });
    }
    expect(refusedImages).toEqual(['liar']);
    expect(await listPacked(store, config.rootfs.diff_ids[0])).toEqual([]);
  });
});
