import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A number for every project, for the node's nftables walls between projects (a packet mark is
 * 32 bits; a project's name is not a number). A serial: existing projects are numbered in the
 * ALTER, new ones take the next value, and UNIQUE keeps two projects from sharing a wall.
 */
export class ProjectNetId1765000000000 implements MigrationInterface {
  name = 'ProjectNetId1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE project ADD COLUMN net_id serial');
    await q.query('ALTER TABLE project ADD CONSTRAINT project_net_id_unique UNIQUE (net_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE project DROP COLUMN net_id');
  }
}
