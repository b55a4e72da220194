// What the NodeLayers tests share: a database of their own with two tenant projects, and an
// image recorded as ImageStore.recordImported records it, without the unpack it then starts.
import type { ImportedImage } from '@nagaya/native';
import { createTestDatabase, type TestDatabase } from '../../../allocator/test/support/test-database';
import { type ImageRecord, ImageRecords } from '../../src/images/image-records';
import { Db } from '../../src/store/db';

export interface RecordsDatabase {
  tdb: TestDatabase;
  db: Db;
  records: ImageRecords;
  close(): Promise<void>;
}

/** A fresh, migrated database with projects tenant-a and tenant-b beside default. */
export async function recordsDatabase(name: string): Promise<RecordsDatabase> {
  const tdb = await createTestDatabase(name);
  const db = new Db(tdb.url, 4);
  for (const project of ['tenant-a', 'tenant-b']) await db.query('INSERT INTO project (name) VALUES ($1)', [project]);
  return {
    tdb,
    db,
    records: new ImageRecords(db, { project: 'default', source: 'built-in' }),
    close: async () => {
      await db.close();
      await tdb.drop();
    },
  };
}

/** Records an imported image on `node` (its checked blobs, and its user names pending when it came packed). */
export async function recordImported(
  records: ImageRecords,
  project: string,
  name: string,
  imported: ImportedImage,
  node: string,
): Promise<ImageRecord> {
  await records.markChecked(imported.layers.filter((l) => l.checked));
  await records.insert({
    project,
    name,
    format: imported.format === 'rootfs' ? 'rootfs' : 'oci-layout',
    digest: imported.manifestDigest,
    config: imported.layers.some((l) => l.packed) ? { identitiesPending: true } : {},
    layers: imported.layers.map((l) => ({ diffId: l.diffId, digest: l.digest, sizeBytes: l.size })),
    reference: null,
    files: 0,
    source: 'upload',
    node,
  });
  return (await records.visible(project, name))!;
}
