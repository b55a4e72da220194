import type { MigrationInterface, QueryRunner } from 'typeorm';
import {
  PREVIOUS_PROJECT_USAGE_RECOUNT_VIEW,
  PROJECT_USAGE_RECOUNT_VIEW,
  VOLUME_QUOTA_FUNCTION,
  VOLUME_USAGE_FUNCTION,
} from './sql/1766000000000-volume-disk-quota.sql';

/**
 * The diskBytes quota counted image bytes only, so a tenant filled the disk through volumes.
 * Now, as LXD's limits.disk: under a diskBytes quota a volume must be sized, and sized volumes
 * count into disk_bytes, in the INSERT that records the volume (see the SQL file). Writable
 * layers of containers are still not counted.
 */
export class VolumeDiskQuota1766000000000 implements MigrationInterface {
  name = 'VolumeDiskQuota1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(PROJECT_USAGE_RECOUNT_VIEW);
    // volumes that exist count from now on (a project may go over its quota: that blocks new creates only)
    await q.query(`UPDATE project_usage u SET disk_bytes = r.disk_bytes FROM project_usage_recount r WHERE r.project = u.project`);
    await q.query(VOLUME_QUOTA_FUNCTION);
    await q.query(`CREATE TRIGGER volume_quota BEFORE INSERT ON volume FOR EACH ROW EXECUTE FUNCTION nagaya_volume_quota()`);
    await q.query(VOLUME_USAGE_FUNCTION);
    await q.query(`
      CREATE TRIGGER volume_usage AFTER DELETE OR UPDATE OF project, size_bytes ON volume
      FOR EACH ROW EXECUTE FUNCTION nagaya_volume_usage()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER IF EXISTS volume_usage ON volume');
    await q.query('DROP TRIGGER IF EXISTS volume_quota ON volume');
    await q.query('DROP FUNCTION IF EXISTS nagaya_volume_usage(), nagaya_volume_quota()');
    await q.query(PREVIOUS_PROJECT_USAGE_RECOUNT_VIEW);
    await q.query(`UPDATE project_usage u SET disk_bytes = r.disk_bytes FROM project_usage_recount r WHERE r.project = u.project`);
  }
}
