import type { MigrationInterface, QueryRunner } from 'typeorm';
import {
  CONTAINER_QUOTA_FUNCTION,
  CONTAINER_USAGE_FUNCTION,
  IDMAP_SLICES_FUNCTION,
  IMAGE_QUOTA_FUNCTION,
  IMAGE_USAGE_FUNCTION,
  PROJECT_USAGE_RECOUNT_VIEW,
  PROJECT_USAGE_ROW_FUNCTION,
  PROJECT_USAGE_TABLE,
} from './sql/1764800000000-projects.sql';

const DNS_LABEL = `'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'`;

/**
 * Projects: tenants with their own containers, images, tokens and quotas (LXD's projects).
 * Everything that existed lands in project `default`, which always exists: containers, images,
 * jobs, audit events of containers and images, and operator and viewer tokens. Admin tokens
 * become global (no project), or nobody could manage projects after the upgrade. The default
 * project keeps allowing raw idmaps, as every container could ask for them before (the pool's
 * rawAllowed ranges stay the admin's gate); new projects do not unless an admin says so.
 */
export class Projects1764800000000 implements MigrationInterface {
  name = 'Projects1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE project (
        name                     text PRIMARY KEY CHECK (name ~ ${DNS_LABEL}),
        description              text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
        raw_idmap_allowed        boolean NOT NULL DEFAULT false,
        quota_containers         bigint CHECK (quota_containers >= 0),
        quota_slices             bigint CHECK (quota_slices >= 0),
        quota_memory_bytes       bigint CHECK (quota_memory_bytes >= 0),
        quota_cpus               numeric CHECK (quota_cpus >= 0),
        quota_processes          bigint CHECK (quota_processes >= 0),
        quota_disk_bytes         bigint CHECK (quota_disk_bytes >= 0),
        quota_network_interfaces bigint CHECK (quota_network_interfaces >= 0),
        created_at               timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`INSERT INTO project (name, description, raw_idmap_allowed) VALUES ('default', 'Default project', true)`);

    // Containers: a project each; names unique within it.
    await q.query(`ALTER TABLE container ADD COLUMN project text NOT NULL DEFAULT 'default' REFERENCES project (name)`);
    await q.query(`ALTER TABLE container ALTER COLUMN project DROP DEFAULT`);
    await q.query(`ALTER TABLE container DROP CONSTRAINT container_name_key`);
    await q.query(`ALTER TABLE container ADD CONSTRAINT container_project_name_key UNIQUE (project, name)`);

    // Images: recorded here (the directory on disk holds the files), so a quota can count them.
    await q.query(`
      CREATE TABLE image (
        project    text NOT NULL REFERENCES project (name),
        name       text NOT NULL CHECK (name ~ '^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$'),
        size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
        files      bigint NOT NULL DEFAULT 0,
        source     text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (project, name)
      )`);

    // Tokens: a project, or none for admin tokens that span every project. A deleted project
    // takes its (revoked) tokens with it; live ones keep it from being deleted.
    await q.query(`ALTER TABLE api_token ADD COLUMN project text REFERENCES project (name) ON DELETE CASCADE`);
    await q.query(`UPDATE api_token SET project = 'default' WHERE role <> 'admin'`);
    await q.query(`ALTER TABLE api_token ADD CONSTRAINT api_token_project_or_admin CHECK (project IS NOT NULL OR role = 'admin')`);

    // Jobs and audit events name their project (no foreign key: they outlive what they name).
    await q.query(`ALTER TABLE job ADD COLUMN project text`);
    await q.query(`UPDATE job SET project = coalesce((SELECT c.project FROM container c WHERE c.id = job.container_id), 'default')`);
    await q.query(`CREATE INDEX job_project_created ON job (project, created_at DESC)`);
    await q.query(`ALTER TABLE audit_event ADD COLUMN project text`);
    await q.query(`UPDATE audit_event SET project = 'default' WHERE action LIKE 'container.%' OR action LIKE 'image.%'`);
    await q.query(`CREATE INDEX audit_event_project_at ON audit_event (project, at DESC)`);

    await q.query(IDMAP_SLICES_FUNCTION);
    await q.query(PROJECT_USAGE_TABLE);
    await q.query(PROJECT_USAGE_RECOUNT_VIEW);
    await q.query(`INSERT INTO project_usage SELECT * FROM project_usage_recount`);
    await q.query(PROJECT_USAGE_ROW_FUNCTION);
    await q.query(`CREATE TRIGGER project_usage_row AFTER INSERT ON project FOR EACH ROW EXECUTE FUNCTION nagaya_project_usage_row()`);
    await q.query(CONTAINER_QUOTA_FUNCTION);
    await q.query(`CREATE TRIGGER container_quota BEFORE INSERT ON container FOR EACH ROW EXECUTE FUNCTION nagaya_container_quota()`);
    await q.query(CONTAINER_USAGE_FUNCTION);
    await q.query(`
      CREATE TRIGGER container_usage AFTER DELETE OR UPDATE OF project, limits, idmap ON container
      FOR EACH ROW EXECUTE FUNCTION nagaya_container_usage()`);
    await q.query(IMAGE_QUOTA_FUNCTION);
    await q.query(`CREATE TRIGGER image_quota BEFORE INSERT ON image FOR EACH ROW EXECUTE FUNCTION nagaya_image_quota()`);
    await q.query(IMAGE_USAGE_FUNCTION);
    await q.query(`CREATE TRIGGER image_usage AFTER DELETE ON image FOR EACH ROW EXECUTE FUNCTION nagaya_image_usage()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER IF EXISTS image_usage ON image');
    await q.query('DROP TRIGGER IF EXISTS image_quota ON image');
    await q.query('DROP TRIGGER IF EXISTS container_usage ON container');
    await q.query('DROP TRIGGER IF EXISTS container_quota ON container');
    await q.query('DROP TRIGGER IF EXISTS project_usage_row ON project');
    await q.query(
      'DROP FUNCTION IF EXISTS nagaya_image_usage(), nagaya_image_quota(), nagaya_container_usage(), nagaya_container_quota(), nagaya_project_usage_row()',
    );
    await q.query('DROP VIEW IF EXISTS project_usage_recount');
    await q.query('DROP TABLE IF EXISTS project_usage');
    await q.query('DROP FUNCTION IF EXISTS nagaya_idmap_slices(jsonb)');
    await q.query('DROP INDEX IF EXISTS audit_event_project_at');
    await q.query('ALTER TABLE audit_event DROP COLUMN IF EXISTS project');
    await q.query('DROP INDEX IF EXISTS job_project_created');
    await q.query('ALTER TABLE job DROP COLUMN IF EXISTS project');
    await q.query('ALTER TABLE api_token DROP CONSTRAINT IF EXISTS api_token_project_or_admin');
    await q.query('ALTER TABLE api_token DROP COLUMN IF EXISTS project');
    await q.query('DROP TABLE IF EXISTS image');
    await q.query('ALTER TABLE container DROP CONSTRAINT IF EXISTS container_project_name_key');
    await q.query('ALTER TABLE container ADD CONSTRAINT container_name_key UNIQUE (name)');
    await q.query('ALTER TABLE container DROP COLUMN IF EXISTS project');
    await q.query('DROP TABLE IF EXISTS project');
  }
}
