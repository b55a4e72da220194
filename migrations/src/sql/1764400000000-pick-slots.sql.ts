// Frozen SQL of migration 1764400000000-id-allocator: nagaya_pick_slots as it first shipped.
// Databases ran this text; never edit it. A change is a new migration with its own copy.

/**
 * nagaya_pick_slots(pool, n, cutoff) -> first slot of n contiguous free slots, row-locked.
 * n = 1 is one index probe (id_slot_pick) with SKIP LOCKED, so concurrent callers fan out to
 * different slots instead of queueing. n > 1 looks for runs of free slots (gaps and islands over
 * the free slots only). Slots released after `cutoff` are still cooling down and are skipped.
 */
export const PICK_SLOTS_FUNCTION = `
CREATE FUNCTION nagaya_pick_slots(p_pool int4, p_n int4, p_cutoff timestamptz) RETURNS int4
LANGUAGE plpgsql AS $fn$
DECLARE
  v_first  int4;
  v_locked int4;
  v_tried  boolean := false;
BEGIN
  IF p_n = 1 THEN
    SELECT s.slot INTO v_first FROM id_slot s
     WHERE s.pool_id = p_pool AND s.state = 'free'
       AND (s.released_at IS NULL OR s.released_at <= p_cutoff)
     ORDER BY s.released_at NULLS FIRST, s.slot
     LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF FOUND THEN RETURN v_first; END IF;
    PERFORM 1 FROM id_slot s
     WHERE s.pool_id = p_pool AND s.state = 'free'
       AND (s.released_at IS NULL OR s.released_at <= p_cutoff) LIMIT 1;
    v_tried := FOUND;
  ELSE
    FOR v_first IN
      SELECT min(t.slot) FROM (
        SELECT s.slot, s.released_at, s.slot - row_number() OVER (ORDER BY s.slot) AS run
          FROM id_slot s
         WHERE s.pool_id = p_pool AND s.state = 'free'
           AND (s.released_at IS NULL OR s.released_at <= p_cutoff)) t
       GROUP BY t.run HAVING count(*) >= p_n
       ORDER BY max(t.released_at) NULLS FIRST, min(t.slot)
    LOOP
      v_tried := true;
      SELECT count(*) INTO v_locked FROM (
        SELECT 1 FROM id_slot s
         WHERE s.pool_id = p_pool AND s.slot >= v_first AND s.slot < v_first + p_n
           AND s.state = 'free'
         FOR UPDATE SKIP LOCKED) l;
      IF v_locked = p_n THEN RETURN v_first; END IF;
    END LOOP;
  END IF;
  IF v_tried THEN
    RAISE EXCEPTION 'free slots of pool % are being taken concurrently', p_pool USING ERRCODE = 'NG003';
  END IF;
  RAISE EXCEPTION 'pool % has no free run of % slice(s)', p_pool, p_n USING ERRCODE = 'NG001';
END
$fn$`;
