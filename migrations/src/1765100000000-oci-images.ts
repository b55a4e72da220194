import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * OCI images: an image is a manifest (its digest), a config and an ordered list of layers, each
 * layer content-addressed by its uncompressed digest (diff_id) and unpacked once per node, shared
 * by every image that stacks it. Images made before (busybox, rootfs uploads of earlier
 * releases) stay one directory: format 'directory', no layers.
 *
 * An image's name may carry a tag as Docker writes one (`alpine:3`): OCI images need no directory
 * of their own, so the name no longer has to be a file name.
 */
export class OciImages1765100000000 implements MigrationInterface {
  name = 'OciImages1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE image_layer (
        diff_id    text PRIMARY KEY CHECK (diff_id ~ '^sha256:[a-f0-9]{64}$'),
        size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      ALTER TABLE image
        ADD COLUMN format text NOT NULL DEFAULT 'directory'
          CHECK (format IN ('directory', 'rootfs', 'oci-layout', 'docker-save', 'docker-save-oci', 'registry')),
        ADD COLUMN digest text CHECK (digest ~ '^sha256:[a-f0-9]{64}$'),
        ADD COLUMN config jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN layers text[] NOT NULL DEFAULT '{}',
        ADD COLUMN reference text,
        ADD CONSTRAINT image_layers_or_directory CHECK ((format = 'directory') = (cardinality(layers) = 0))`);
    // name[:tag]
    await q.query('ALTER TABLE image DROP CONSTRAINT image_name_check');
    await q.query(`
      ALTER TABLE image ADD CONSTRAINT image_name_check
        CHECK (name ~ '^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$')`);
    // Which node holds which unpacked layer: placement prefers nodes that hold an image, and the
    // API shows them. A worker records what it unpacks and forgets what it removes.
    await q.query(`
      CREATE TABLE node_layer (
        node    text NOT NULL,
        diff_id text NOT NULL REFERENCES image_layer (diff_id) ON DELETE CASCADE,
        PRIMARY KEY (node, diff_id)
      )`);
    await q.query('CREATE INDEX node_layer_diff_id ON node_layer (diff_id)');
    // What a container's command runs with, resolved at create from the image config and the
    // request: {workingDir, uid, gid} (empty: /, root).
    await q.query(`ALTER TABLE container ADD COLUMN run jsonb NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE container DROP COLUMN run');
    await q.query('DROP TABLE node_layer');
    await q.query('ALTER TABLE image DROP CONSTRAINT image_name_check');
    await q.query(`ALTER TABLE image ADD CONSTRAINT image_name_check CHECK (name ~ '^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$')`);
    await q.query(
      'ALTER TABLE image DROP CONSTRAINT image_layers_or_directory, DROP COLUMN format, DROP COLUMN digest, DROP COLUMN config, DROP COLUMN layers, DROP COLUMN reference',
    );
    await q.query('DROP TABLE image_layer');
  }
}
