import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A container's confinement options (security.nesting), kept with its row so every launch of it
 * (restart, a retried job, the reconciler's requeue) runs it as it was created. Containers of
 * earlier releases get {}: the default confinement.
 */
export class ContainerSecurity1764750000000 implements MigrationInterface {
  name = 'ContainerSecurity1764750000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE container ADD COLUMN IF NOT EXISTS security jsonb NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE container DROP COLUMN IF EXISTS security');
  }
}
