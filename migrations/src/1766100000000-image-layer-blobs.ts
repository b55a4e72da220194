import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Imports that keep their layers packed (to unpack later) check each layer's blob against its
 * diff_id only when it unpacks, so Postgres keeps what was checked:
 * - image.layer_digests: the blob digest of each layer, beside image.layers (its diff_ids), so a
 *   node unpacks an image's own blobs and no other image's (NULL for images from before, which
 *   were checked in full at import, and for directory images);
 * - layer_blob: the (diff_id, digest) pairs some node checked: that blob decompresses to that
 *   diff_id. A fact of the bytes, so it holds on every node; an image whose pairs are all here may
 *   use a layer directory any node unpacked from any blob, one whose pair is not must have its own
 *   blob checked first (otherwise an image could get another's layer by naming its diff_id).
 * And a partial index for the pulls of one image name: a pull is refused while another pull of
 * the same name is under way (JobQueues.enqueuePull).
 */
export class ImageLayerBlobs1766100000000 implements MigrationInterface {
  name = 'ImageLayerBlobs1766100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE image ADD COLUMN layer_digests text[]
      CHECK (layer_digests IS NULL OR cardinality(layer_digests) = cardinality(layers))`);
    await q.query(`
      CREATE TABLE layer_blob (
        diff_id     text NOT NULL,
        digest      text NOT NULL,
        verified_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (diff_id, digest)
      )`);
    await q.query(`CREATE INDEX job_pull_image ON job (project, image, created_at DESC) WHERE kind = 'pull'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS job_pull_image');
    await q.query('DROP TABLE IF EXISTS layer_blob');
    await q.query('ALTER TABLE image DROP COLUMN IF EXISTS layer_digests');
  }
}
