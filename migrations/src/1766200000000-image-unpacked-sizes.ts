import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An import that keeps its layers packed records each layer's size as its blob's (compressed)
 * bytes: the unpacked size is known only once it unpacks. When it does, the node records the
 * unpacked sizes (ImageRecords.recordUnpackedSizes), so GET /images says what an eager import
 * says of the same layers. An image's size_bytes then changes, and the project's disk_bytes
 * must follow it: image_usage now also runs on an update of size_bytes (before, only on delete,
 * which subtracts the size the row has then).
 */
export class ImageUnpackedSizes1766200000000 implements MigrationInterface {
  name = 'ImageUnpackedSizes1766200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION nagaya_image_usage() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          -- a deferred import's sizes, corrected once its layers unpacked; no quota check: the
          -- image was admitted already, and a project with a diskBytes quota imports unpacked
          UPDATE project_usage SET disk_bytes = greatest(0, disk_bytes - OLD.size_bytes + NEW.size_bytes) WHERE project = NEW.project;
        ELSE
          UPDATE project_usage SET disk_bytes = disk_bytes - OLD.size_bytes WHERE project = OLD.project;
        END IF;
        RETURN NULL;
      END $$`);
    await q.query('DROP TRIGGER image_usage ON image');
    await q.query(
      `CREATE TRIGGER image_usage AFTER DELETE OR UPDATE OF size_bytes ON image FOR EACH ROW EXECUTE FUNCTION nagaya_image_usage()`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER image_usage ON image');
    await q.query(`CREATE TRIGGER image_usage AFTER DELETE ON image FOR EACH ROW EXECUTE FUNCTION nagaya_image_usage()`);
    await q.query(`
      CREATE OR REPLACE FUNCTION nagaya_image_usage() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE project_usage SET disk_bytes = disk_bytes - OLD.size_bytes WHERE project = OLD.project;
        RETURN NULL;
      END $$`);
  }
}
