// A node's packed layers (imports that kept their blobs to unpack later), against a real
// Postgres and a real store: the reconciler counts a packed layer as held and removes a packed
// blob no image has; ensure() checks an image's own blobs against their diff_ids, unpacks them,
// records the checks and the image's user names. An image that names another's diff_id beside
// other bytes neither gets that layer nor spoils it, whichever comes first; an image with a blob
// that is not its diff_id is refused and handed to be taken back, every time it is asked for.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type ImportedImage, importImage, listPacked } from '@nagaya/native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RecordsDatabase, recordImported, recordsDatabase } from './support/recorded-images';
import { buildImage, type FixtureImage, imageWithConfig, layerOf, ociLayoutTar, sha256 } from '../../native/test/support/oci-fixtures';
import { NagayaError } from '../src/errors';
import type { ImageRecords } from '../src/images/image-records';
import { type ImageKey, NodeLayers } from '../src/images/node-layers';
import type { Db } from '../src/store/db';

const LIMITS = { maxBytes: 64 * 1024 * 1024, maxEntries: 10_000, maxDepth: 64 };
const work = mkdtempSync(join(tmpdir(), 'nagaya-node-layers-'));
const store = join(work, '.oci');
let database: RecordsDatabase | undefined;
let db: Db;
let records: ImageRecords;
let layers: NodeLayers;
const takenBack: string[] = [];

const web = buildImage([
  layerOf([
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\nweb:x:101:102::/srv:/bin/sh\n' },
    { name: 'etc/group', body: 'root:x:0:\nweb:x:102:\n' },
  ]),
  layerOf([{ name: 'srv/index.html', body: 'hello\n' }], 'zstd'),
]);
const importPacked = (archive: Buffer) =>
  importImage(Readable.from([archive]), store, { maxArchiveBytes: 64 * 1024 * 1024, layerLimits: LIMITS, deferUnpack: true });

const record = (project: string, name: string, imported: ImportedImage) => recordImported(records, project, name, imported, 'node-x');

/** An image that names `diffId` for its one layer, beside bytes that are something else. */
function borrower(diffId: string, word: string): FixtureImage {
  const honest = buildImage([layerOf([{ name: word, body: `${word}\n` }])]);
  const config = JSON.parse(honest.config.toString()) as { rootfs: { diff_ids: string[] } };
  config.rootfs.diff_ids[0] = diffId;
  return imageWithConfig(honest, Buffer.from(JSON.stringify(config)));
}

async function refusedAsk(image: Parameters<NodeLayers['ensure']>[0]): Promise<NagayaError> {
  const err = await layers.ensure(image).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(NagayaError);
  expect(err).toMatchObject({ code: 'IMAGE_UNAVAILABLE', details: { reason: 'bad-content' } });
  return err as NagayaError;
}

beforeAll(async () => {
  ({ db, records } = database = await recordsDatabase('nagaya_layers'));
  layers = new NodeLayers(store, LIMITS, records, undefined, { node: 'node-x' }, async (image: ImageKey) => {
    takenBack.push(`${image.project}/${image.name}`);
  });
});
afterAll(async () => {
  await database?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('packed layers on a node', () => {
  it('are held while packed; a packed blob no image has is removed by the reconciler', async () => {
    await record('default', 'web', await importPacked(ociLayoutTar(web)));
    await importPacked(ociLayoutTar(buildImage([layerOf([{ name: 'stray', body: 'no image records me\n' }])])));
    await db.query("DELETE FROM node_layer WHERE node = 'node-x'");
    expect(await layers.reconcile(0)).toEqual({ removed: 1, recorded: 2, forgotten: 0 });
    const held = await db.query<{ diff_id: string }>("SELECT diff_id FROM node_layer WHERE node = 'node-x' ORDER BY diff_id");
    expect(held.rows.map((r) => r.diff_id)).toEqual(web.layers.map((l) => l.diffId).sort());
    expect((await listPacked(store)).map((p) => p.diffId).sort()).toEqual(web.layers.map((l) => l.diffId).sort());
  });

  it('unpack for concurrent askers at once; the checks and the user names are recorded', async () => {
    const image = (await records.visible('default', 'web'))!;
    expect(image.config.identitiesPending).toBe(true);
    const dirs = await Promise.all([layers.dirsFor(image), layers.dirsFor(image), layers.ensure(image)]);
    expect(dirs[0]).toEqual(web.layers.map((l) => layers.layerPath(l.diffId)).reverse());
    expect(dirs[0]!.every((d) => existsSync(d))).toBe(true);
    expect(await listPacked(store)).toEqual([]);
    expect(readdirSync(join(store, 'staging'))).toEqual([]);
    expect((await records.visible('default', 'web'))!.config).toEqual({
      passwd: { root: [0, 0], web: [101, 102] },
      groups: { root: 0, web: 102 },
    });
    expect((await records.checked(web.layers)).size).toBe(2);
    expect(layers.isReady(image.digest)).toBe(true);
    expect(await layers.reconcile(0)).toEqual({ removed: 0, recorded: 0, forgotten: 0 });
  });

  it('refuse an image whose blob is not its diff_id, every time it or a copy of it is asked for', async () => {
    const liar = borrower(sha256('not this layer'), 'x');
    const first = await record('default', 'liar', await importPacked(ociLayoutTar(liar)));
    const err = await refusedAsk(first);
    expect(err.message).toMatch(
      /^image liar of project default cannot be unpacked: layer sha256:\w+ \(blob sha256:\w+\): .*not the diff_id/,
    );
    expect(takenBack).toEqual(['default/liar']);
    // the same archive again, in another project: its blob was refused already, and so is it
    const again = await record('tenant-b', 'liar', await importPacked(ociLayoutTar(liar)));
    await refusedAsk(again);
    expect(takenBack).toEqual(['default/liar', 'tenant-b/liar']);
    expect(await listPacked(store, liar.layers[0]!.diffId)).toEqual([]);
  });
});

describe("another image's diff_id beside other bytes", () => {
  const secret = buildImage([layerOf([{ name: 'secret', body: 'tenant a only\n' }])]);
  const secretDiffId = secret.layers[0]!.diffId;

  it('does not get the layer once it is unpacked, and does not spoil it', async () => {
    const owner = await record('tenant-a', 'private', await importPacked(ociLayoutTar(secret)));
    const thief = await record('tenant-b', 'thief', await importPacked(ociLayoutTar(borrower(secretDiffId, 'junk-1'))));
    await layers.ensure(owner);
    expect(existsSync(layers.layerPath(secretDiffId))).toBe(true);
    // the thief's own blob is checked against the layer now there, and refused
    await refusedAsk(thief);
    expect(takenBack).toContain('tenant-b/thief');
    expect(layers.isReady(thief.digest)).toBe(false);
    await layers.ensure(owner);
  });

  it('whichever is asked for first: a junk blob packed first neither serves nor refuses the true image', async () => {
    await layers.remove([secretDiffId]);
    const thief = await record('tenant-b', 'thief-2', await importPacked(ociLayoutTar(borrower(secretDiffId, 'junk-2'))));
    const owner = await record('tenant-a', 'private-2', await importPacked(ociLayoutTar(secret)));
    expect((await listPacked(store, secretDiffId)).length).toBe(2);
    await refusedAsk(thief);
    expect(existsSync(layers.layerPath(secretDiffId))).toBe(false);
    await layers.ensure(owner);
    expect(existsSync(layers.layerPath(secretDiffId))).toBe(true);
    expect(takenBack.filter((t) => t.startsWith('tenant-a/'))).toEqual([]);
  });

  it('is not let use a layer directory that another blob made when its own blob is not here to check', async () => {
    // packed while the layer was not here (an import checks a blob in full against a layer it holds)
    await layers.remove([secretDiffId]);
    const thief = await record('tenant-b', 'thief-3', await importPacked(ociLayoutTar(borrower(secretDiffId, 'junk-3'))));
    // its blob went (imported on another node, a lost disk), and the true layer is here again
    await rm(thief);
    await layers.ensure(await record('tenant-a', 'private-3', await importPacked(ociLayoutTar(secret))));
    expect(existsSync(layers.layerPath(secretDiffId))).toBe(true);
    const err = await layers.ensure(thief).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'IMAGE_UNAVAILABLE', details: { reason: 'not-on-node' } });
    expect(layers.isReady(thief.digest)).toBe(false);
  });
});

async function rm(image: { layers: string[]; layerDigests: string[] | null }): Promise<void> {
  for (const p of await listPacked(store)) {
    if (image.layerDigests!.includes(p.digest)) rmSync(p.path);
  }
}
