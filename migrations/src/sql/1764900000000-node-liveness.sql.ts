// Frozen SQL of migration 1764900000000-node-liveness: nagaya_release (fence-aware), nagaya_fence, nagaya_unfence.
// Databases ran this text; never edit it. A change is a new migration with its own copy.

/**
 * nagaya_release(owner) -> true if the owner's lease was given back. As 1764400000000's copy,
 * except that a fenced lease (its slice is marked with the node its container died with) is not
 * given back: it stays leased, so nagaya_pick_slots never offers its slots (they are not free) and
 * the exclusion constraints keep its host IDs taken, until nagaya_unfence lifts the fence.
 */
export const RELEASE_FUNCTION = `
CREATE OR REPLACE FUNCTION nagaya_release(p_owner text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  v_lease id_lease%ROWTYPE;
  v_left  int4;
BEGIN
  IF EXISTS (SELECT 1 FROM id_slice s WHERE s.owner = p_owner AND s.fenced_node IS NOT NULL) THEN
    RETURN false;
  END IF;
  DELETE FROM id_lease l WHERE l.owner = p_owner RETURNING * INTO v_lease;
  IF NOT FOUND THEN RETURN false; END IF;
  DELETE FROM id_slice s WHERE s.owner = p_owner AND s.kind = 'raw';
  IF NOT v_lease.isolated THEN RETURN true; END IF;

  DELETE FROM id_slot s
   WHERE s.pool_id = v_lease.pool_id AND s.slot >= v_lease.slot AND s.slot < v_lease.slot + v_lease.slots
     AND s.state = 'out_of_pool';
  GET DIAGNOSTICS v_left = ROW_COUNT;
  IF v_left > 0 THEN
    -- part of the slice left the pool: forget it; its key can no longer promise the same IDs
    DELETE FROM id_slice s WHERE s.owner = p_owner AND s.kind = 'isolated';
    DELETE FROM id_key k WHERE k.pool_id = v_lease.pool_id AND k.key = v_lease.key;
    UPDATE id_slot s SET state = 'free', released_at = clock_timestamp()
     WHERE s.pool_id = v_lease.pool_id AND s.slot >= v_lease.slot AND s.slot < v_lease.slot + v_lease.slots
       AND s.state = 'leased';
  ELSE
    UPDATE id_slice s SET state = 'quarantined', released_at = clock_timestamp()
     WHERE s.owner = p_owner AND s.kind = 'isolated';
    UPDATE id_slot s
       SET state = CASE WHEN v_lease.key IS NULL THEN 'free' ELSE 'keyed' END,
           released_at = clock_timestamp()
     WHERE s.pool_id = v_lease.pool_id AND s.slot >= v_lease.slot AND s.slot < v_lease.slot + v_lease.slots
       AND s.state = 'leased';
  END IF;
  RETURN true;
END
$fn$`;

/**
 * nagaya_fence(owner, node) -> true if the owner held slices to fence. Its processes may still
 * run on a node nobody can reach: its IDs must not be handed to anyone else.
 */
export const FENCE_FUNCTION = `
CREATE FUNCTION nagaya_fence(p_owner text, p_node text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  v_count int4;
BEGIN
  UPDATE id_slice s SET fenced_node = p_node, fenced_at = clock_timestamp()
   WHERE s.owner = p_owner AND s.state <> 'quarantined';
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count > 0;
END
$fn$`;

/**
 * nagaya_unfence(node, owner) -> the owners whose fence was lifted (every fenced owner of the
 * node when owner is NULL). Their leases stay: the caller gives them back with nagaya_release.
 */
export const UNFENCE_FUNCTION = `
CREATE FUNCTION nagaya_unfence(p_node text, p_owner text) RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
  v_owner text;
BEGIN
  FOR v_owner IN
    UPDATE id_slice s SET fenced_node = NULL, fenced_at = NULL
     WHERE s.fenced_node = p_node AND (p_owner IS NULL OR s.owner = p_owner)
    RETURNING s.owner
  LOOP
    RETURN NEXT v_owner;
  END LOOP;
END
$fn$`;

/**
 * The body nagaya_release had before this migration (as 1764400000000 made it), put back by its
 * down(): this migration's own copy, as the frozen-SQL rule asks.
 */
export const RELEASE_FUNCTION_BEFORE = `
CREATE OR REPLACE FUNCTION nagaya_release(p_owner text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  v_lease id_lease%ROWTYPE;
  v_left  int4;
BEGIN
  DELETE FROM id_lease l WHERE l.owner = p_owner RETURNING * INTO v_lease;
  IF NOT FOUND THEN RETURN false; END IF;
  DELETE FROM id_slice s WHERE s.owner = p_owner AND s.kind = 'raw';
  IF NOT v_lease.isolated THEN RETURN true; END IF;

  DELETE FROM id_slot s
   WHERE s.pool_id = v_lease.pool_id AND s.slot >= v_lease.slot AND s.slot < v_lease.slot + v_lease.slots
     AND s.state = 'out_of_pool';
  GET DIAGNOSTICS v_left = ROW_COUNT;
  IF v_left > 0 THEN
    -- part of the slice left the pool: forget it; its key can no longer promise the same IDs
    DELETE FROM id_slice s WHERE s.owner = p_owner AND s.kind = 'isolated';
    DELETE FROM id_key k WHERE k.pool_id = v_lease.pool_id AND k.key = v_lease.key;
    UPDATE id_slot s SET state = 'free', released_at = clock_timestamp()
     WHERE s.pool_id = v_lease.pool_id AND s.slot >= v_lease.slot AND s.slot < v_lease.slot + v_lease.slots
       AND s.state = 'leased';
  ELSE
    UPDATE id_slice s SET state = 'quarantined', released_at = clock_timestamp()
     WHERE s.owner = p_owner AND s.kind = 'isolated';
    UPDATE id_slot s
       SET state = CASE WHEN v_lease.key IS NULL THEN 'free' ELSE 'keyed' END,
           released_at = clock_timestamp()
     WHERE s.pool_id = v_lease.pool_id AND s.slot >= v_lease.slot AND s.slot < v_lease.slot + v_lease.slots
       AND s.state = 'leased';
  END IF;
  RETURN true;
END
$fn$`;
