// Frozen: the SQL of migration VolumeDiskQuota1766000000000 (see README.md).

/**
 * diskBytes for volumes, as LXD's limits.disk: in a project with a diskBytes quota every volume
 * must have a size (NQ003, INVALID_INPUT: an unsized volume could fill the disk), and a sized
 * volume's size counts into disk_bytes beside the project's images. Kept inside the INSERT, as
 * the container and image triggers of 1764800000000 keep theirs: the counters' row is updated
 * first (which locks it and reads its newest committed values), then the quota is checked, so
 * concurrent creates cannot pass it together.
 */
export const VOLUME_QUOTA_FUNCTION = `
CREATE FUNCTION nagaya_volume_quota() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p project%ROWTYPE;
  u project_usage%ROWTYPE;
  wanted bigint := coalesce(NEW.size_bytes, 0);
BEGIN
  SELECT * INTO p FROM project WHERE name = NEW.project;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ002', MESSAGE = format('no project named %s', NEW.project),
      DETAIL = json_build_object('project', NEW.project)::text;
  END IF;
  IF p.quota_disk_bytes IS NOT NULL AND NEW.size_bytes IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ003',
      MESSAGE = format('project %s has a diskBytes quota, so every volume must set sizeBytes', NEW.project),
      DETAIL = json_build_object('project', NEW.project, 'field', 'sizeBytes', 'quota', 'diskBytes')::text;
  END IF;
  UPDATE project_usage SET disk_bytes = disk_bytes + wanted WHERE project = NEW.project RETURNING * INTO u;
  -- the quota as it is now: a change committed while this create waited for the row counts
  SELECT * INTO p FROM project WHERE name = NEW.project;
  IF p.quota_disk_bytes IS NOT NULL AND u.disk_bytes > p.quota_disk_bytes THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ001',
      MESSAGE = format('project %s is over its diskBytes quota: %s used of %s, this volume needs %s more', NEW.project,
                       u.disk_bytes - wanted, p.quota_disk_bytes, wanted),
      DETAIL = json_build_object('project', NEW.project, 'quota', 'diskBytes', 'limit', p.quota_disk_bytes,
                                 'used', u.disk_bytes - wanted, 'requested', wanted)::text;
  END IF;
  RETURN NEW;
END $$`;

/** Gives a volume's size back when its row goes, or moves it when its size or project changes (no check: only a create takes more). */
export const VOLUME_USAGE_FUNCTION = `
CREATE FUNCTION nagaya_volume_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE project_usage SET disk_bytes = disk_bytes - coalesce(OLD.size_bytes, 0) WHERE project = OLD.project;
  IF TG_OP = 'UPDATE' THEN
    UPDATE project_usage SET disk_bytes = disk_bytes + coalesce(NEW.size_bytes, 0) WHERE project = NEW.project;
  END IF;
  RETURN NULL;
END $$`;

/** The counters summed from the rows, disk_bytes now with sized volumes (replaces 1764950000000's view). */
export const PROJECT_USAGE_RECOUNT_VIEW = `
CREATE OR REPLACE VIEW project_usage_recount AS
SELECT p.name AS project, u.containers, u.slices, u.memory_bytes, u.cpus, u.processes, i.disk_bytes + v.disk_bytes AS disk_bytes,
       u.network_interfaces
  FROM project p
 CROSS JOIN LATERAL (
   SELECT count(*)::bigint AS containers,
          coalesce(sum(nagaya_idmap_slices(c.idmap)), 0)::bigint AS slices,
          coalesce(sum((c.limits->>'memoryBytes')::numeric), 0)::bigint AS memory_bytes,
          coalesce(sum((c.limits->>'cpus')::numeric), 0)::numeric AS cpus,
          coalesce(sum((c.limits->>'pids')::numeric), 0)::bigint AS processes,
          coalesce(sum(nagaya_network_interfaces(c.network)), 0)::bigint AS network_interfaces
     FROM container c WHERE c.project = p.name) u
 CROSS JOIN LATERAL (
   SELECT coalesce(sum(im.size_bytes), 0)::bigint AS disk_bytes FROM image im WHERE im.project = p.name) i
 CROSS JOIN LATERAL (
   SELECT coalesce(sum(vo.size_bytes), 0)::bigint AS disk_bytes FROM volume vo WHERE vo.project = p.name) v`;

/** The recount view before volumes were counted (1764950000000's), for down(). */
export const PREVIOUS_PROJECT_USAGE_RECOUNT_VIEW = `
CREATE OR REPLACE VIEW project_usage_recount AS
SELECT p.name AS project, u.containers, u.slices, u.memory_bytes, u.cpus, u.processes, i.disk_bytes, u.network_interfaces
  FROM project p
 CROSS JOIN LATERAL (
   SELECT count(*)::bigint AS containers,
          coalesce(sum(nagaya_idmap_slices(c.idmap)), 0)::bigint AS slices,
          coalesce(sum((c.limits->>'memoryBytes')::numeric), 0)::bigint AS memory_bytes,
          coalesce(sum((c.limits->>'cpus')::numeric), 0)::numeric AS cpus,
          coalesce(sum((c.limits->>'pids')::numeric), 0)::bigint AS processes,
          coalesce(sum(nagaya_network_interfaces(c.network)), 0)::bigint AS network_interfaces
     FROM container c WHERE c.project = p.name) u
 CROSS JOIN LATERAL (
   SELECT coalesce(sum(im.size_bytes), 0)::bigint AS disk_bytes FROM image im WHERE im.project = p.name) i`;
