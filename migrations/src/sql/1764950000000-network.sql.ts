// Frozen: the SQL of migration Network1764950000000 (see README.md). Databases ran this text;
// never edit it. A change is a new migration with its own copy.

/**
 * Each node's subnet, carved from the fleet's network (NAGAYA_NETWORK_CIDR). Like ID slices, two
 * nodes never overlap: the exclusion constraint is the last word under any concurrency, across
 * processes and hosts. A node that is forgotten frees its subnet (and with it its leases).
 */
export const NODE_SUBNET_TABLE = `
CREATE TABLE node_subnet (
  node       text PRIMARY KEY REFERENCES node (name) ON DELETE CASCADE,
  cidr       cidr NOT NULL CHECK (family(cidr) = 4 AND masklen(cidr) BETWEEN 8 AND 30),
  bridge     text NOT NULL CHECK (bridge ~ '^[A-Za-z0-9][-A-Za-z0-9_.]{0,14}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT node_subnet_disjoint EXCLUDE USING gist (cidr inet_ops WITH &&)
)`;

/**
 * A container's IPv4 address on its node's subnet, held while it may run; unique per subnet by
 * constraint, and gone with the container (or its node's subnet).
 */
export const IP_LEASE_TABLE = `
CREATE TABLE ip_lease (
  container_id uuid PRIMARY KEY REFERENCES container (id) ON DELETE CASCADE,
  node         text NOT NULL REFERENCES node_subnet (node) ON DELETE CASCADE,
  address      inet NOT NULL CHECK (family(address) = 4 AND masklen(address) = 32),
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ip_lease_address_key UNIQUE (node, address)
)`;

/**
 * Published host ports, reserved per node for a container's whole life (from its create). Any
 * address (0.0.0.0) is stored as 0.0.0.0/0, a specific one as /32: && (overlaps) then makes a
 * wildcard collide with every address of the node and two specific addresses only when equal,
 * for the same node, protocol and port.
 */
export const HOST_PORT_TABLE = `
CREATE TABLE host_port (
  container_id   uuid NOT NULL REFERENCES container (id) ON DELETE CASCADE,
  node           text NOT NULL,
  host_ip        inet NOT NULL CHECK (family(host_ip) = 4 AND (masklen(host_ip) = 32 OR host_ip = '0.0.0.0/0'::inet)),
  protocol       text NOT NULL CHECK (protocol IN ('tcp', 'udp')),
  port           int4 NOT NULL CHECK (port BETWEEN 1 AND 65535),
  container_port int4 NOT NULL CHECK (container_port BETWEEN 1 AND 65535),
  CONSTRAINT host_port_taken EXCLUDE USING gist (node WITH =, protocol WITH =, port WITH =, host_ip inet_ops WITH &&)
)`;

/** The host_ip a publish's hostIp is stored as: absent or 0.0.0.0 is every address of the node. */
export const HOST_PORT_IP_FUNCTION = `
CREATE FUNCTION nagaya_host_port_ip(host_ip text) RETURNS inet IMMUTABLE LANGUAGE sql AS $$
  SELECT CASE WHEN host_ip IS NULL OR host_ip = '0.0.0.0' THEN '0.0.0.0/0'::inet ELSE set_masklen(host_ip::inet, 32) END
$$`;

/**
 * nagaya_network_ensure(node, fleet, prefix, bridge) -> the node's subnet, carving the first free
 * /prefix of `fleet` on its first call (idempotent; a node keeps its subnet even if the fleet's
 * network is changed later). Concurrent callers race on the INSERT: ON CONFLICT DO NOTHING waits
 * for a competing insert of an overlapping subnet and then tries the next free one with a new
 * snapshot, so each pass loses only to a commit. SQLSTATEs: NN002 the fleet's network is full,
 * NN003 bad arguments, NN005 still contended after many passes (retry).
 */
export const NETWORK_ENSURE_FUNCTION = `
CREATE FUNCTION nagaya_network_ensure(p_node text, p_fleet cidr, p_prefix int4, p_bridge text)
RETURNS SETOF node_subnet LANGUAGE plpgsql AS $fn$
DECLARE
  v      node_subnet%ROWTYPE;
  v_step int8;
  v_n    int8;
  v_cand cidr;
  v_pass int4;
BEGIN
  IF family(p_fleet) <> 4 OR p_prefix < masklen(p_fleet) OR p_prefix > 30 THEN
    RAISE EXCEPTION 'a /% per node cannot be carved from %', p_prefix, p_fleet USING ERRCODE = 'NN003';
  END IF;
  v_step := (2::int8) ^ (32 - p_prefix);
  v_n := (2::int8) ^ (p_prefix - masklen(p_fleet));
  FOR v_pass IN 1..256 LOOP
    SELECT * INTO v FROM node_subnet s WHERE s.node = p_node;
    IF FOUND THEN
      IF v.bridge <> p_bridge THEN
        UPDATE node_subnet s SET bridge = p_bridge WHERE s.node = p_node RETURNING * INTO v;
      END IF;
      RETURN NEXT v;
      RETURN;
    END IF;
    SELECT c.cidr INTO v_cand
      FROM generate_series(0::int8, v_n - 1) i
     CROSS JOIN LATERAL (SELECT set_masklen(network(p_fleet) + i * v_step, p_prefix)::cidr AS cidr) c
     WHERE NOT EXISTS (SELECT 1 FROM node_subnet s WHERE s.cidr && c.cidr)
     ORDER BY i LIMIT 1;
    IF v_cand IS NULL THEN
      RAISE EXCEPTION 'the fleet network % has no free /% left for node %', p_fleet, p_prefix, p_node USING ERRCODE = 'NN002',
        DETAIL = json_build_object('fleet', p_fleet::text, 'prefix', p_prefix, 'node', p_node)::text;
    END IF;
    INSERT INTO node_subnet (node, cidr, bridge) VALUES (p_node, v_cand, p_bridge) ON CONFLICT DO NOTHING RETURNING * INTO v;
    IF FOUND THEN
      RETURN NEXT v;
      RETURN;
    END IF;
  END LOOP;
  RAISE EXCEPTION 'subnets of % are being taken concurrently', p_fleet USING ERRCODE = 'NN005';
END
$fn$`;

/**
 * nagaya_ip_lease(container, node) -> the container's address on the node's subnet, leasing the
 * first free one (never the network address, the gateway .1 or the broadcast address) when it
 * holds none there; idempotent per container, and a lease on another node is given up first.
 *
 * Concurrent callers must not queue on one address: a free address is claimed with
 * pg_try_advisory_xact_lock(hash of the node, offset), the SKIP LOCKED of rows that do not exist
 * yet, so callers fan out over the free addresses. The lock is held until commit, when the lease
 * row becomes visible; a caller whose snapshot missed that commit meets the unique constraint
 * (ON CONFLICT DO NOTHING) and moves on. When every free address is locked by others it looks
 * again for up to 2 s (they may roll back). SQLSTATEs: NN001 the subnet is full, NN004 the node has
 * no subnet, NN005 every free address stayed locked by concurrent callers (retry).
 */
export const IP_LEASE_FUNCTION = `
CREATE FUNCTION nagaya_ip_lease(p_container uuid, p_node text)
RETURNS TABLE (lease_address inet, lease_cidr cidr, lease_gateway inet, lease_bridge text, created boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_subnet  node_subnet%ROWTYPE;
  v_lease   ip_lease%ROWTYPE;
  v_key     int4;
  v_size    int8;
  v_off     int8;
  v_skipped int4;
  v_until   timestamptz := clock_timestamp() + interval '2 seconds';
BEGIN
  SELECT * INTO v_subnet FROM node_subnet s WHERE s.node = p_node;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'node % has no subnet (its worker has not set up container networking)', p_node USING ERRCODE = 'NN004',
      DETAIL = json_build_object('node', p_node)::text;
  END IF;
  SELECT * INTO v_lease FROM ip_lease l WHERE l.container_id = p_container;
  IF FOUND THEN
    IF v_lease.node = p_node THEN
      RETURN QUERY SELECT v_lease.address, v_subnet.cidr, set_masklen(v_subnet.cidr + 1, 32), v_subnet.bridge, false;
      RETURN;
    END IF;
    DELETE FROM ip_lease l WHERE l.container_id = p_container;
  END IF;
  v_size := (2::int8) ^ (32 - masklen(v_subnet.cidr));
  v_key := hashtext('nagaya-ip:' || p_node);
  LOOP
    v_skipped := 0;
    -- the free offsets, lowest first: the node's leases are read once (its unique index) into a
    -- hashed NOT IN, not probed once per address (measured here: 0.8-1.3 ms a lease from empty
    -- to full, commit included)
    FOR v_off IN
      SELECT o FROM generate_series(2::int8, v_size - 2) o
       WHERE o NOT IN (SELECT l.address - set_masklen(v_subnet.cidr, 32) FROM ip_lease l WHERE l.node = p_node)
       ORDER BY o
    LOOP
      IF NOT pg_try_advisory_xact_lock(v_key, v_off::int4) THEN
        v_skipped := v_skipped + 1;
        CONTINUE;
      END IF;
      INSERT INTO ip_lease (container_id, node, address) VALUES (p_container, p_node, set_masklen(v_subnet.cidr + v_off, 32))
        ON CONFLICT (node, address) DO NOTHING RETURNING * INTO v_lease;
      IF FOUND THEN
        RETURN QUERY SELECT v_lease.address, v_subnet.cidr, set_masklen(v_subnet.cidr + 1, 32), v_subnet.bridge, true;
        RETURN;
      END IF;
    END LOOP;
    -- every free address was locked by callers still committing: look again (they may roll
    -- back), for at most 2 s
    EXIT WHEN v_skipped = 0 OR clock_timestamp() > v_until;
    PERFORM pg_sleep(0.005);
  END LOOP;
  IF v_skipped > 0 THEN
    RAISE EXCEPTION 'the free addresses of % (node %) are being leased concurrently', v_subnet.cidr, p_node USING ERRCODE = 'NN005';
  END IF;
  RAISE EXCEPTION 'the subnet % of node % has no free address (% leased)', v_subnet.cidr, p_node, v_size - 3 USING ERRCODE = 'NN001',
    DETAIL = json_build_object('node', p_node, 'cidr', v_subnet.cidr::text, 'leased', v_size - 3)::text;
END
$fn$`;

/**
 * A container moved to another node takes its port reservations along (refused if they are taken
 * there) and gives up its address (the next claim leases one on the new node).
 */
export const CONTAINER_NETWORK_MOVED_FUNCTION = `
CREATE FUNCTION nagaya_container_network_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.node IS DISTINCT FROM OLD.node THEN
    DELETE FROM ip_lease WHERE container_id = NEW.id;
    UPDATE host_port SET node = NEW.node WHERE container_id = NEW.id;
  END IF;
  RETURN NULL;
END $$`;

/** The network interfaces a container's network request holds: 1 in bridge mode. */
export const NETWORK_INTERFACES_FUNCTION = `
CREATE FUNCTION nagaya_network_interfaces(network jsonb) RETURNS bigint IMMUTABLE LANGUAGE sql AS $$
  SELECT CASE WHEN network->>'mode' = 'bridge' THEN 1 ELSE 0 END::bigint
$$`;

/** The counters summed from the rows, now with network_interfaces (replaces 1764800000000's view). */
export const PROJECT_USAGE_RECOUNT_VIEW = `
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

/**
 * nagaya_container_quota, as 1764800000000 made it, now also counting network interfaces
 * (networkInterfaces quota, LXD's lxc-usernet analogue). Same SQLSTATEs (NQ001..NQ004).
 */
export const CONTAINER_QUOTA_FUNCTION = `
CREATE OR REPLACE FUNCTION nagaya_container_quota() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  p project%ROWTYPE;
  u project_usage%ROWTYPE;
  want_slices bigint := nagaya_idmap_slices(NEW.idmap);
  want_memory numeric := (NEW.limits->>'memoryBytes')::numeric;
  want_cpus numeric := (NEW.limits->>'cpus')::numeric;
  want_pids numeric := (NEW.limits->>'pids')::numeric;
  want_nics bigint := nagaya_network_interfaces(NEW.network);
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
         processes = processes + coalesce(want_pids, 0), network_interfaces = network_interfaces + want_nics
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
  ELSIF p.quota_network_interfaces IS NOT NULL AND want_nics > 0 AND u.network_interfaces > p.quota_network_interfaces THEN
    over := 'networkInterfaces'; lim := p.quota_network_interfaces; used := u.network_interfaces - want_nics; wanted := want_nics;
  END IF;
  IF over IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'NQ001',
      MESSAGE = format('project %s is over its %s quota: %s used of %s, this container asks for %s more', NEW.project, over, used, lim, wanted),
      DETAIL = json_build_object('project', NEW.project, 'quota', over, 'limit', lim, 'used', used, 'requested', wanted)::text;
  END IF;
  RETURN NEW;
END $$`;

/** nagaya_container_usage, as 1764800000000 made it, now also giving back network interfaces. */
export const CONTAINER_USAGE_FUNCTION = `
CREATE OR REPLACE FUNCTION nagaya_container_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE project_usage SET containers = containers - 1, slices = slices - nagaya_idmap_slices(OLD.idmap),
           memory_bytes = memory_bytes - coalesce((OLD.limits->>'memoryBytes')::numeric, 0),
           cpus = cpus - coalesce((OLD.limits->>'cpus')::numeric, 0),
           processes = processes - coalesce((OLD.limits->>'pids')::numeric, 0),
           network_interfaces = network_interfaces - nagaya_network_interfaces(OLD.network)
     WHERE project = OLD.project;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    UPDATE project_usage SET containers = containers + 1, slices = slices + nagaya_idmap_slices(NEW.idmap),
           memory_bytes = memory_bytes + coalesce((NEW.limits->>'memoryBytes')::numeric, 0),
           cpus = cpus + coalesce((NEW.limits->>'cpus')::numeric, 0),
           processes = processes + coalesce((NEW.limits->>'pids')::numeric, 0),
           network_interfaces = network_interfaces + nagaya_network_interfaces(NEW.network)
     WHERE project = NEW.project;
  END IF;
  RETURN NULL;
END $$`;

// What down() puts back: the bodies 1764800000000 made, copied here (no migration imports
// another's SQL), each as CREATE OR REPLACE.

/** The recount view before network interfaces were counted. */
export const PREVIOUS_PROJECT_USAGE_RECOUNT_VIEW = `
CREATE OR REPLACE VIEW project_usage_recount AS
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

/** nagaya_container_quota before network interfaces were counted. */
export const PREVIOUS_CONTAINER_QUOTA_FUNCTION = `
CREATE OR REPLACE FUNCTION nagaya_container_quota() RETURNS trigger LANGUAGE plpgsql AS $$
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

/** nagaya_container_usage before network interfaces were counted. */
export const PREVIOUS_CONTAINER_USAGE_FUNCTION = `
CREATE OR REPLACE FUNCTION nagaya_container_usage() RETURNS trigger LANGUAGE plpgsql AS $$
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
