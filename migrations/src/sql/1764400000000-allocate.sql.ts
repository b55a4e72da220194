// Frozen SQL of migration 1764400000000-id-allocator: nagaya_allocate.
// Databases ran this text; never edit it. A change is a new migration with its own copy.

/**
 * nagaya_allocate(pool, owner, isolated, slots, key) -> the owner's lease (created = false when
 * the owner already had it: allocation is idempotent per owner). One call is one transaction.
 */
export const ALLOCATE_FUNCTION = `
CREATE FUNCTION nagaya_allocate(p_pool int4, p_owner text, p_isolated boolean, p_slots int4, p_key text)
RETURNS TABLE (lease_owner text, lease_pool int4, lease_isolated boolean, lease_slot int4, lease_slots int4,
               lease_uid_base int8, lease_gid_base int8, lease_size int8, lease_key text,
               lease_raw jsonb, lease_created_at timestamptz, created boolean)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_pool   id_pool%ROWTYPE;
  v_lease  id_lease%ROWTYPE;
  v_key    id_key%ROWTYPE;
  v_shared id_slice%ROWTYPE;
  v_first  int4;
  v_count  int4;
  v_cutoff timestamptz;
BEGIN
  SELECT * INTO v_lease FROM id_lease l WHERE l.owner = p_owner;
  IF FOUND THEN
    IF v_lease.pool_id <> p_pool OR v_lease.isolated <> p_isolated
       OR (p_isolated AND v_lease.slots <> p_slots) OR v_lease.key IS DISTINCT FROM p_key THEN
      RAISE EXCEPTION 'owner % already holds a lease with other options', p_owner USING ERRCODE = 'NG002';
    END IF;
    RETURN QUERY SELECT v_lease.owner, v_lease.pool_id, v_lease.isolated, v_lease.slot, v_lease.slots,
      v_lease.uid_base, v_lease.gid_base, v_lease.size, v_lease.key, v_lease.raw, v_lease.created_at, false;
    RETURN;
  END IF;

  SELECT * INTO v_pool FROM id_pool p WHERE p.id = p_pool;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'pool % does not exist', p_pool USING ERRCODE = 'NG004';
  END IF;
  v_cutoff := clock_timestamp() - make_interval(secs => v_pool.quarantine_seconds);

  IF NOT p_isolated THEN
    SELECT * INTO v_shared FROM id_slice s WHERE s.pool_id = p_pool AND s.kind = 'shared';
    IF NOT FOUND THEN
      v_first := nagaya_pick_slots(p_pool, 1, v_cutoff);
      UPDATE id_slot SET state = 'shared' WHERE pool_id = p_pool AND slot = v_first;
      DELETE FROM id_slice q WHERE q.pool_id = p_pool AND q.state = 'quarantined'
         AND int4range(q.slot, q.slot + q.slots) && int4range(v_first, v_first + 1);
      INSERT INTO id_slice (pool_id, owner, kind, slot, slots, uid_range, gid_range)
      VALUES (p_pool, NULL, 'shared', v_first, 1,
              int8range(v_pool.uid_origin + v_first * v_pool.slice_size, v_pool.uid_origin + (v_first + 1) * v_pool.slice_size),
              int8range(v_pool.gid_origin + v_first * v_pool.slice_size, v_pool.gid_origin + (v_first + 1) * v_pool.slice_size))
      RETURNING * INTO v_shared;
    END IF;
    INSERT INTO id_lease (owner, pool_id, isolated, slot, slots, uid_base, gid_base, size, key)
    VALUES (p_owner, p_pool, false, v_shared.slot, 1, lower(v_shared.uid_range), lower(v_shared.gid_range),
            v_pool.slice_size, NULL)
    RETURNING * INTO v_lease;
  ELSE
    IF p_key IS NOT NULL THEN
      SELECT * INTO v_key FROM id_key k WHERE k.pool_id = p_pool AND k.key = p_key FOR UPDATE;
    END IF;
    IF p_key IS NOT NULL AND FOUND THEN
      IF v_key.slots <> p_slots THEN
        RAISE EXCEPTION 'key % is bound to % slice(s), not %', p_key, v_key.slots, p_slots USING ERRCODE = 'NG002';
      END IF;
      UPDATE id_slot SET state = 'leased'
       WHERE pool_id = p_pool AND slot >= v_key.first_slot AND slot < v_key.first_slot + v_key.slots
         AND state = 'keyed';
      GET DIAGNOSTICS v_count = ROW_COUNT;
      IF v_count <> v_key.slots THEN
        RAISE EXCEPTION 'key % is held by a live owner', p_key USING ERRCODE = 'NG002';
      END IF;
      v_first := v_key.first_slot;
    ELSE
      v_first := nagaya_pick_slots(p_pool, p_slots, v_cutoff);
      UPDATE id_slot SET state = 'leased'
       WHERE pool_id = p_pool AND slot >= v_first AND slot < v_first + p_slots;
      IF p_key IS NOT NULL THEN
        -- a concurrent first use of the same key fails here (unique_violation) and is retried
        INSERT INTO id_key (pool_id, key, first_slot, slots) VALUES (p_pool, p_key, v_first, p_slots);
      END IF;
    END IF;

    DELETE FROM id_slice q WHERE q.pool_id = p_pool AND q.state = 'quarantined'
       AND int4range(q.slot, q.slot + q.slots) && int4range(v_first, v_first + p_slots);
    INSERT INTO id_slice (pool_id, owner, kind, slot, slots, uid_range, gid_range, key)
    VALUES (p_pool, p_owner, 'isolated', v_first, p_slots,
            int8range(v_pool.uid_origin + v_first * v_pool.slice_size, v_pool.uid_origin + (v_first + p_slots) * v_pool.slice_size),
            int8range(v_pool.gid_origin + v_first * v_pool.slice_size, v_pool.gid_origin + (v_first + p_slots) * v_pool.slice_size),
            p_key);
    INSERT INTO id_lease (owner, pool_id, isolated, slot, slots, uid_base, gid_base, size, key)
    VALUES (p_owner, p_pool, true, v_first, p_slots,
            v_pool.uid_origin + v_first * v_pool.slice_size, v_pool.gid_origin + v_first * v_pool.slice_size,
            p_slots * v_pool.slice_size, p_key)
    RETURNING * INTO v_lease;
  END IF;

  RETURN QUERY SELECT v_lease.owner, v_lease.pool_id, v_lease.isolated, v_lease.slot, v_lease.slots,
    v_lease.uid_base, v_lease.gid_base, v_lease.size, v_lease.key, v_lease.raw, v_lease.created_at, true;
END
$fn$`;
