import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Finds the pulls of one image name (a project's `name:tag`) without reading every job: a pull is
 * refused while another pull of the same name is under way (JobQueues.enqueuePull), where before
 * the two downloaded the whole image and the second failed only when it came to record it.
 */
export class PullJobIndex1766100000000 implements MigrationInterface {
  name = 'PullJobIndex1766100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX job_pull_image ON job (project, image, created_at DESC) WHERE kind = 'pull'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS job_pull_image');
  }
}
