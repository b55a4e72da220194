import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Image pulls are jobs too: a pull runs on a worker node like a launch and is found by id the
 * same way (GET /jobs/:id). A pull has no container; it names the image it makes instead.
 * Credentials of a pull are never written here: they live only in the job's data in Redis.
 */
export class ImagePullJobs1765200000000 implements MigrationInterface {
  name = 'ImagePullJobs1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE job DROP CONSTRAINT IF EXISTS job_kind_check');
    await q.query(`
      ALTER TABLE job
        ADD CONSTRAINT job_kind_check CHECK (kind IN ('launch', 'start', 'stop', 'restart', 'delete', 'pull')),
        ALTER COLUMN container_id DROP NOT NULL,
        ALTER COLUMN container DROP NOT NULL,
        ADD COLUMN image text,
        ADD CONSTRAINT job_container_or_image CHECK (
          (kind = 'pull') = (container_id IS NULL AND container IS NULL AND image IS NOT NULL))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM job WHERE kind = 'pull'`);
    await q.query(`
      ALTER TABLE job
        DROP CONSTRAINT job_container_or_image,
        DROP COLUMN image,
        ALTER COLUMN container_id SET NOT NULL,
        ALTER COLUMN container SET NOT NULL,
        DROP CONSTRAINT job_kind_check,
        ADD CONSTRAINT job_kind_check CHECK (kind IN ('launch', 'start', 'stop', 'restart', 'delete'))`);
  }
}
