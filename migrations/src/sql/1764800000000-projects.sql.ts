// Frozen: the SQL of migration Projects1764800000000 (see README.md).

/** The 65536-ID units of host IDs a container's idmap request holds: 0 for a non-isolated map. */
export const IDMAP_SLICES_FUNCTION = `
CREATE FUNCTION nagaya_idmap_slices(idmap jsonb) RETURNS bigint IMMUTABLE LANGUAGE sql AS $$
  SELECT CASE WHEN coalesce((idmap->>'isolated')::boolean, true) THEN coalesce((idmap->>'size')::bigint, 65536) / 65536 ELSE 0 END
$$`;

/**
 * What each project uses, as counters the triggers below keep in the statement that changes what
 * they count: a create costs one row update whatever the project's size (a sum over the project's
 * containers under its lock grew with every container; bench:project-quota). Sums are over every
 * container whatever its state (a stopped container keeps its claim, as in LXD). slices counts
 * 65536-ID units of isolated maps: a container of idmap.size 131072 holds two.
 * network_interfaces stays 0 until networking lands.
 */
export const PROJECT_USAGE_TABLE = `
CREATE TABLE project_usage (
  project            text PRIMARY KEY REFERENCES project (name) ON DELETE CASCADE,
  containers         bigint NOT NULL DEFAULT 0 CHECK (containers >= 0),
  slices             bigint NOT NULL DEFAULT 0 CHECK (slices >= 0),
  memory_bytes       bigint NOT NULL DEFAULT 0 CHECK (memory_bytes >= 0),
  cpus               numeric NOT NULL DEFAULT 0 CHECK (cpus >= 0),
  processes          bigint NOT NULL DEFAULT 0 CHECK (processes >= 0),
  disk_bytes         bigint NOT NULL DEFAULT 0 CHECK (disk_bytes >= 0),
  network_interfaces bigint NOT NULL DEFAULT 0 CHECK (network_interfaces >= 0)
)`;

/** The same use, summed from the rows themselves: what the counters must always equal (the tests check). */
export const PROJECT_USAGE_RECOUNT_VIEW = `
CREATE VIEW project_usage_recount AS
SELECT p.name AS project, u.containers, u.slices, u.memory_bytes, u.cpus, u.processes, i.disk_bytes, 0::bigint AS network_interfaces
  FROM project p
 CROSS JOIN LATERAL (
   SELECT count(*)::bigint AS containers,
          coalesce(sum(nagaya_idmap_slices(c.idmap)), 0)::bigint AS slices,
          coalesce(sum((c.limits->>'memoryBytes')::numeric), 0)::bigint AS memory_bytes,
          coalesce(sum((c.limits->>'cpus')::numeric), 0)::numeric AS cpus,
          coalesce(sum((c.limits->>'pids')::numeric), 0)::bigint AS processes
     FROM container c WHERE c.project = p.name) u
 CROSS JOIN LATERAL (
   SELECT coalesce(sum(im.size_bytes), 0)::bigint AS disk_bytes FROM image im WHERE im.project = p.name) i`;

/** Every project has its counters row from its first moment. */
export const PROJECT_USAGE_ROW_FUNCTION = `
CREATE FUNCTION nagaya_project_usage_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO project_usage (project) VALUES (NEW.name);
  RETURN NEW;
END $$`;

/**
 * Refuses a container its project cannot take, inside the INSERT itself: Postgres, not a process,
 * keeps the quotas, as it keeps slices disjoint. The counters' row is updated first, which locks
 * it and reads its newest committed values (READ COMMITTED re-reads a row it waited for), so 16
 * concurrent creates against containers = 10 give 10; a refusal aborts the statement and with it
 * the update.
 *
 * Errors carry SQLSTATEs of our own class NQ, with a JSON DETAIL the server turns into the API
 * error: NQ001 QUOTA_EXCEEDED, NQ002 no such project (NOT_FOUND), NQ003 a quota that needs a limit
 * the container does not set (INVALID_INPUT), NQ004 raw idmap not allowed (FORBIDDEN).
 */
export const CONTAINER_QUOTA_FUNCTION = `
CREATE FUNCTION nagaya_container_quota() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p project%ROWTYPE;
  u project_usage%ROWTYPE;
  want_slices bigint := nagaya_idmap_slices(NEW.idmap);
  want_memory numeric := (NEW.limits->>'memoryBytes')::numeric;
  want_cpus numeric := (NEW.limits->>'cpus')::numeric;
  want_pids numeric := (NEW.limits->>'pids')::numeric;
  over text;
  lim numeric;
  used numeric;
  wanted numeric;
BEGIN
  SELECT * INTO p FROM project WHERE name = NEW.project;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ002', MESSAGE = format('no project named %s', NEW.project),
      DETAIL = json_build_object('project', NEW.project)::text;
  END IF;
  IF jsonb_typeof(NEW.idmap->'raw') = 'array' AND jsonb_array_length(NEW.idmap->'raw') > 0 AND NOT p.raw_idmap_allowed THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ004',
      MESSAGE = format('project %s does not allow raw idmaps (an admin sets rawIdmapAllowed)', NEW.project),
      DETAIL = json_build_object('project', NEW.project, 'field', 'idmap.raw')::text;
  END IF;
  IF p.quota_memory_bytes IS NOT NULL AND want_memory IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ003',
      MESSAGE = format('project %s has a memoryBytes quota, so every container must set limits.memoryBytes', NEW.project),
      DETAIL = json_build_object('project', NEW.project, 'field', 'limits.memoryBytes', 'quota', 'memoryBytes')::text;
  END IF;
  IF p.quota_cpus IS NOT NULL AND want_cpus IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ003',
      MESSAGE = format('project %s has a cpus quota, so every container must set limits.cpus', NEW.project),
      DETAIL = json_build_object('project', NEW.project, 'field', 'limits.cpus', 'quota', 'cpus')::text;
  END IF;
  IF p.quota_processes IS NOT NULL AND want_pids IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ003',
      MESSAGE = format('project %s has a processes quota, so every container must set limits.pids', NEW.project),
      DETAIL = json_build_object('project', NEW.project, 'field', 'limits.pids', 'quota', 'processes')::text;
  END IF;

  UPDATE project_usage SET containers = containers + 1, slices = slices + want_slices,
         memory_bytes = memory_bytes + coalesce(want_memory, 0), cpus = cpus + coalesce(want_cpus, 0),
         processes = processes + coalesce(want_pids, 0)
   WHERE project = NEW.project RETURNING * INTO u;
  -- the quotas as they are now: a change committed while this create waited for the row counts
  SELECT * INTO p FROM project WHERE name = NEW.project;
  IF p.quota_containers IS NOT NULL AND u.containers > p.quota_containers THEN
    over := 'containers'; lim := p.quota_containers; used := u.containers - 1; wanted := 1;
  ELSIF p.quota_slices IS NOT NULL AND want_slices > 0 AND u.slices > p.quota_slices THEN
    over := 'slices'; lim := p.quota_slices; used := u.slices - want_slices; wanted := want_slices;
  ELSIF p.quota_memory_bytes IS NOT NULL AND u.memory_bytes > p.quota_memory_bytes THEN
    over := 'memoryBytes'; lim := p.quota_memory_bytes; used := u.memory_bytes - want_memory; wanted := want_memory;
  ELSIF p.quota_cpus IS NOT NULL AND u.cpus > p.quota_cpus THEN
    over := 'cpus'; lim := p.quota_cpus; used := u.cpus - want_cpus; wanted := want_cpus;
  ELSIF p.quota_processes IS NOT NULL AND u.processes > p.quota_processes THEN
    over := 'processes'; lim := p.quota_processes; used := u.processes - want_pids; wanted := want_pids;
  END IF;
  IF over IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ001',
      MESSAGE = format('project %s is over its %s quota: %s used of %s, this container asks for %s more', NEW.project, over, used, lim, wanted),
      DETAIL = json_build_object('project', NEW.project, 'quota', over, 'limit', lim, 'used', used, 'requested', wanted)::text;
  END IF;
  RETURN NEW;
END $$`;

/**
 * Keeps the counters when a container goes, or changes what it counts (limits, idmap, project).
 * No quota check here: only a create takes more, and a quota lowered below use never touches
 * what exists.
 */
export const CONTAINER_USAGE_FUNCTION = `
CREATE FUNCTION nagaya_container_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE project_usage SET containers = containers - 1, slices = slices - nagaya_idmap_slices(OLD.idmap),
           memory_bytes = memory_bytes - coalesce((OLD.limits->>'memoryBytes')::numeric, 0),
           cpus = cpus - coalesce((OLD.limits->>'cpus')::numeric, 0),
           processes = processes - coalesce((OLD.limits->>'pids')::numeric, 0)
     WHERE project = OLD.project;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    UPDATE project_usage SET containers = containers + 1, slices = slices + nagaya_idmap_slices(NEW.idmap),
           memory_bytes = memory_bytes + coalesce((NEW.limits->>'memoryBytes')::numeric, 0),
           cpus = cpus + coalesce((NEW.limits->>'cpus')::numeric, 0),
           processes = processes + coalesce((NEW.limits->>'pids')::numeric, 0)
     WHERE project = NEW.project;
  END IF;
  RETURN NULL;
END $$`;

/** diskBytes: an image is recorded only if the project's images, it included, fit. */
export const IMAGE_QUOTA_FUNCTION = `
CREATE FUNCTION nagaya_image_quota() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p project%ROWTYPE;
  u project_usage%ROWTYPE;
BEGIN
  UPDATE project_usage SET disk_bytes = disk_bytes + NEW.size_bytes WHERE project = NEW.project RETURNING * INTO u;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ002', MESSAGE = format('no project named %s', NEW.project),
      DETAIL = json_build_object('project', NEW.project)::text;
  END IF;
  SELECT * INTO p FROM project WHERE name = NEW.project;
  IF p.quota_disk_bytes IS NOT NULL AND u.disk_bytes > p.quota_disk_bytes THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ001',
      MESSAGE = format('project %s is over its diskBytes quota: %s used of %s, this image needs %s more', NEW.project,
                       u.disk_bytes - NEW.size_bytes, p.quota_disk_bytes, NEW.size_bytes),
      DETAIL = json_build_object('project', NEW.project, 'quota', 'diskBytes', 'limit', p.quota_disk_bytes,
                                 'used', u.disk_bytes - NEW.size_bytes, 'requested', NEW.size_bytes)::text;
  END IF;
  RETURN NEW;
END $$`;

/** Gives an image's bytes back when its record goes. */
export const IMAGE_USAGE_FUNCTION = `
CREATE FUNCTION nagaya_image_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE project_usage SET disk_bytes = disk_bytes - OLD.size_bytes WHERE project = OLD.project;
  RETURN NULL;
END $$`;
