import type { MigrationInterface, QueryRunner } from 'typeorm';

const DNS_LABEL = `'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'`;

/**
 * Volumes: a project's directory on one node, stored with container-relative owners (0..65535)
 * and idmapped onto each container that mounts it. The row names the node; the directory is
 * `<data dir>/volumes/<project>/<id>` there. `quota_id` is the filesystem project ID a size limit
 * is kept under (ext4/xfs prjquota), taken from its own sequence so no two volumes share one.
 *
 * A container records what it mounts (`mounts`, jsonb): a volume by id and name, or a host path.
 * The GIN index finds the containers that mount a volume (a volume is not deleted while one does).
 */
export class Volumes1765500000000 implements MigrationInterface {
  name = 'Volumes1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE volume (
        id         uuid PRIMARY KEY,
        project    text NOT NULL REFERENCES project (name),
        name       text NOT NULL CHECK (name ~ ${DNS_LABEL}),
        node       text NOT NULL,
        size_bytes bigint CHECK (size_bytes > 0),
        quota_id   bigint CHECK (quota_id > 0 AND quota_id < 4294967295),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT volume_project_name_key UNIQUE (project, name),
        CONSTRAINT volume_quota_id_key UNIQUE (quota_id),
        CONSTRAINT volume_size_has_quota CHECK ((size_bytes IS NULL) = (quota_id IS NULL))
      )`);
    await q.query('CREATE INDEX volume_node ON volume (node)');
    // filesystem project IDs of size-limited volumes: far above what an admin's own projects use
    await q.query('CREATE SEQUENCE volume_quota_id_seq MINVALUE 1000000 START 1000000 MAXVALUE 4294967294');
    await q.query(`ALTER TABLE container ADD COLUMN mounts jsonb NOT NULL DEFAULT '[]'`);
    await q.query('CREATE INDEX container_mounts ON container USING gin (mounts jsonb_path_ops)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX IF EXISTS container_mounts');
    await q.query('ALTER TABLE container DROP COLUMN IF EXISTS mounts');
    await q.query('DROP SEQUENCE IF EXISTS volume_quota_id_seq');
    await q.query('DROP TABLE IF EXISTS volume');
  }
}
