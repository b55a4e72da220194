// The pair (diff_id, digest) of an uncompressed layer is a rootfs tarball's own (digest = diff_id),
// and a layer's directory is named by its diff_id alone, so a rootfs tarball unpacks by the rules
// of a layer (whiteouts included): the same bytes are refused, or give the same directory, either
// way, and no project's upload can stand for, or have taken back, another's image. Also: a
// refusal remembered from one project's image is told to another in its own name, and a delete
// leaves a just-packed blob to the reconciler (an import may be about to record it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type ImportedImage, importImage } from '@nagaya/native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RecordsDatabase, recordImported, recordsDatabase } from './support/recorded-images';
import { buildImage, imageWithConfig, layerOf, ociLayoutTar, sha256 } from '../../native/test/support/oci-fixtures';
import { rawTar } from '../../native/test/support/raw-tar';
import type { ImageRecords } from '../src/images/image-records';
import { type ImageKey, NodeLayers } from '../src/images/node-layers';

const LIMITS = { maxBytes: 64 * 1024 * 1024, maxEntries: 10_000, maxDepth: 64 };
const work = mkdtempSync(join(tmpdir(), 'nagaya-node-layers-modes-'));
let database: RecordsDatabase | undefined;
let records: ImageRecords;
const takenBack: string[] = [];

// a rootfs tarball with a directory whose name starts with .wh. (refused in a layer)
const rootfsTar = rawTar([
  { name: 'srv/', type: 'directory', mode: 0o755 },
  { name: 'srv/.wh.cache/', type: 'directory', mode: 0o755 },
  { name: 'srv/.wh.cache/page', body: 'victim data\n' },
]);

const importInto = (store: string, archive: Buffer, deferUnpack: boolean) =>
  importImage(Readable.from([archive]), store, { maxArchiveBytes: 64 * 1024 * 1024, layerLimits: LIMITS, deferUnpack });

function nodeLayers(store: string, node: string): NodeLayers {
  return new NodeLayers(store, LIMITS, records, undefined, { node }, async (image: ImageKey) => {
    takenBack.push(`${image.project}/${image.name}`);
  });
}

const record = (project: string, name: string, imported: ImportedImage, node: string) =>
  recordImported(records, project, name, imported, node);

beforeAll(async () => {
  ({ records } = database = await recordsDatabase('nagaya_layer_modes'));
});
afterAll(async () => {
  await database?.close();
  rmSync(work, { recursive: true, force: true });
});

describe("a layer refused as an OCI layer, whose bytes are another project's rootfs tarball", () => {
  it('cannot be: a rootfs tarball unpacks by the rules of a layer, so those bytes are refused as a rootfs too', async () => {
    const err = await importInto(join(work, 'one'), rootfsTar, false).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/a whiteout \(\.wh\.\) name cannot be a directory/),
    });
  });

  it('and a rootfs tarball that is a fine layer gives the layer directory its OCI copy gives, so neither can spoil the other', async () => {
    const store = join(work, 'three');
    const three = nodeLayers(store, 'node-3');
    const tar = rawTar([
      { name: 'srv/', type: 'directory', mode: 0o755 },
      { name: 'srv/page', body: 'site\n' },
      { name: 'srv/.wh.old', body: '' },
    ]);
    const layer = buildImage([{ ...layerOf([]), tar, compression: 'none' }]);
    const attacker = await record('tenant-b', 'copycat-3', await importInto(store, ociLayoutTar(layer), true), 'node-3');
    await three.ensure(attacker);
    const victim = await record('tenant-a', 'site-3', await importInto(store, tar, false), 'node-3');
    expect(victim.layerDigests).toEqual(attacker.layerDigests);
    await three.ensure(victim);
    expect(takenBack).toEqual([]);
  });
});

describe("a refusal remembered from another project's image", () => {
  it('does not name that project or its image to the project asked', async () => {
    const store = join(work, 'four');
    const four = nodeLayers(store, 'node-4');
    const honest = buildImage([layerOf([{ name: 'x', body: 'x\n' }])]);
    const config = JSON.parse(honest.config.toString()) as { rootfs: { diff_ids: string[] } };
    config.rootfs.diff_ids[0] = sha256('not this layer');
    const liar = imageWithConfig(honest, Buffer.from(JSON.stringify(config)));
    const first = await record('tenant-a', 'acme-merger-plans', await importInto(store, ociLayoutTar(liar), true), 'node-4');
    await four.ensure(first).catch(() => undefined);
    const again = await record('tenant-b', 'mine', await importInto(store, ociLayoutTar(liar), true), 'node-4');
    const err = (await four.ensure(again).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'IMAGE_UNAVAILABLE' });
    expect(err.message).not.toMatch(/tenant-a|acme-merger-plans/);
  });
});

describe("another project's delete of a layer between an import and its record", () => {
  it('does not remove the packed blob an import just verified and is about to record', async () => {
    const store = join(work, 'five');
    const five = nodeLayers(store, 'node-5');
    const shared = layerOf([{ name: 'base', body: 'a public base layer\n' }]);
    const victimImage = buildImage([shared, layerOf([{ name: 'app', body: 'victim app\n' }])]);
    const attackerImage = buildImage([shared]);
    // the victim's import has verified and committed its blobs; its record is one query away
    const imported = await importInto(store, ociLayoutTar(victimImage), true);
    // meanwhile the attacker's image with the same base is recorded and deleted (ImageStore.delete)
    const attacker = await record('tenant-b', 'base-only', await importInto(store, ociLayoutTar(attackerImage), true), 'node-5');
    const { unusedLayers } = await records.delete(attacker.project, attacker.name);
    await five.remove(unusedLayers);
    const victim = await record('tenant-a', 'app', imported, 'node-5');
    await expect(five.ensure(victim)).resolves.toBeUndefined();
  });
});
