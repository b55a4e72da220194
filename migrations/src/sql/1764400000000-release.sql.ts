// Frozen SQL of migration 1764400000000-id-allocator: nagaya_release.
// Databases ran this text; never edit it. A change is a new migration with its own copy.

/**
 * nagaya_release(owner) -> true if the owner held a lease. Raw grants are freed at once; an
 * isolated slice is quarantined (its slots go back to the free list, stamped with released_at,
 * or stay reserved for the slice's sticky key); a slice outside the pool is forgotten.
 */
export const RELEASE_FUNCTION = `
CREATE FUNCTION nagaya_release(p_owner text) RETURNS boolean
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
