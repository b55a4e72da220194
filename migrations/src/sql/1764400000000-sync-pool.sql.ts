// Frozen SQL of migration 1764400000000-id-allocator: nagaya_sync_pool.
// Databases ran this text; never edit it. A change is a new migration with its own copy.

/**
 * nagaya_sync_pool(pool, uid_ranges, gid_ranges, valid_slots) -> counts of what changed.
 * Takes a lock that waits for in-flight allocations and holds new ones off while the inventory
 * is rewritten. Slots that left the pool: free ones are dropped, leased ones become out_of_pool
 * (kept and reported, never reused, never a reason to refuse a start). Slots that came back
 * are leased again; new slots are added unless a live grant (e.g. raw) already covers them.
 */
export const SYNC_FUNCTION = `
CREATE FUNCTION nagaya_sync_pool(p_pool int4, p_uid int8multirange, p_gid int8multirange, p_valid int4[])
RETURNS TABLE (added int4, removed int4, out_of_pool int4, returned int4)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_pool     id_pool%ROWTYPE;
  v_added    int4;
  v_removed  int4;
  v_out      int4;
  v_returned int4;
BEGIN
  LOCK TABLE id_slot IN SHARE ROW EXCLUSIVE MODE;
  UPDATE id_pool p SET uid_ranges = p_uid, gid_ranges = p_gid, updated_at = now()
   WHERE p.id = p_pool RETURNING * INTO v_pool;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pool % does not exist', p_pool USING ERRCODE = 'NG004';
  END IF;

  -- keys whose reserved (not leased) slots leave the pool can no longer be honoured
  DELETE FROM id_key k WHERE k.pool_id = p_pool AND EXISTS (
    SELECT 1 FROM id_slot s WHERE s.pool_id = p_pool AND s.state = 'keyed'
       AND s.slot >= k.first_slot AND s.slot < k.first_slot + k.slots AND NOT (s.slot = ANY (p_valid)));
  DELETE FROM id_slot s WHERE s.pool_id = p_pool AND s.state IN ('free', 'keyed') AND NOT (s.slot = ANY (p_valid));
  GET DIAGNOSTICS v_removed = ROW_COUNT;
  DELETE FROM id_slice q WHERE q.pool_id = p_pool AND q.state = 'quarantined' AND NOT EXISTS (
    SELECT 1 FROM id_slot s WHERE s.pool_id = p_pool AND s.slot = q.slot);

  UPDATE id_slot s SET state = 'out_of_pool'
   WHERE s.pool_id = p_pool AND s.state IN ('leased', 'shared') AND NOT (s.slot = ANY (p_valid));
  GET DIAGNOSTICS v_out = ROW_COUNT;
  UPDATE id_slot s SET state = CASE WHEN EXISTS (
      SELECT 1 FROM id_slice x WHERE x.pool_id = p_pool AND x.kind = 'shared' AND x.slot = s.slot)
    THEN 'shared' ELSE 'leased' END
   WHERE s.pool_id = p_pool AND s.state = 'out_of_pool' AND s.slot = ANY (p_valid);
  GET DIAGNOSTICS v_returned = ROW_COUNT;

  INSERT INTO id_slot (pool_id, slot)
  SELECT p_pool, v FROM unnest(p_valid) AS v
   WHERE NOT EXISTS (SELECT 1 FROM id_slot s WHERE s.pool_id = p_pool AND s.slot = v)
     AND NOT EXISTS (
       SELECT 1 FROM id_slice x WHERE x.state <> 'quarantined' AND (
         x.uid_range && int8range(v_pool.uid_origin + v * v_pool.slice_size, v_pool.uid_origin + (v + 1) * v_pool.slice_size)
         OR x.gid_range && int8range(v_pool.gid_origin + v * v_pool.slice_size, v_pool.gid_origin + (v + 1) * v_pool.slice_size)));
  GET DIAGNOSTICS v_added = ROW_COUNT;

  UPDATE id_slice x SET state = CASE WHEN EXISTS (
      SELECT 1 FROM id_slot s WHERE s.pool_id = p_pool AND s.state = 'out_of_pool'
         AND s.slot >= x.slot AND s.slot < x.slot + x.slots)
    THEN 'out_of_pool' ELSE 'active' END
   WHERE x.pool_id = p_pool AND x.kind IN ('isolated', 'shared') AND x.state IN ('active', 'out_of_pool');

  RETURN QUERY SELECT v_added, v_removed, v_out, v_returned;
END
$fn$`;
