import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ID allocator's schema. Read this file to see where a slice is chosen: `nagaya_allocate`
 * (one statement per allocation, one round trip) and `nagaya_release`. The exclusion constraints
 * on `id_slice` are the final word: whatever the functions do, two non-quarantined rows can never
 * share a host uid or gid.
 *
 * Slot arithmetic: slot k of a pool covers uids [uid_origin + k*slice_size, +slice_size) and gids
 * [gid_origin + k*slice_size, +slice_size). The origins are fixed when the pool is created, so a
 * pool that shrinks or moves later keeps its leases where they are (they become out_of_pool
 * instead of being silently re-based). `id_slot` is the inventory of slots that lie wholly
 * inside the pool's current ranges; choosing one is an index lookup, never a scan of the leases.
 *
 * The exclusion constraints are global rather than per pool (`pool_id WITH =` in DESIGN.md):
 * pools are themselves disjoint (constraint on id_pool), and a raw grant mapped through one pool
 * must still not reach a host ID that another pool handed out. Global is strictly stronger.
 */
export class IdAllocator1764400000000 implements MigrationInterface {
  name = 'IdAllocator1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS btree_gist`);

    await q.query(`
      CREATE TABLE id_pool (
        id                 serial PRIMARY KEY,
        name               text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'),
        uid_ranges         int8multirange NOT NULL,
        gid_ranges         int8multirange NOT NULL,
        uid_origin         int8 NOT NULL,
        gid_origin         int8 NOT NULL,
        slice_size         int8 NOT NULL DEFAULT 65536 CHECK (slice_size > 0 AND slice_size % 65536 = 0),
        quarantine_seconds int4 NOT NULL DEFAULT 60 CHECK (quarantine_seconds >= 0),
        raw_uid_allowed    int8multirange NOT NULL DEFAULT '{}',
        raw_gid_allowed    int8multirange NOT NULL DEFAULT '{}',
        source             text NOT NULL DEFAULT 'explicit',
        created_at         timestamptz NOT NULL DEFAULT now(),
        updated_at         timestamptz NOT NULL DEFAULT now(),
        uid_span           int8range GENERATED ALWAYS AS (range_merge(uid_ranges)) STORED,
        gid_span           int8range GENERATED ALWAYS AS (range_merge(gid_ranges)) STORED,
        CHECK (isempty(uid_span) OR (lower(uid_span) > 0 AND upper(uid_span) <= 4294967295)),
        CHECK (isempty(gid_span) OR (lower(gid_span) > 0 AND upper(gid_span) <= 4294967295)),
        CONSTRAINT id_pool_uid_disjoint EXCLUDE USING gist (uid_span WITH &&),
        CONSTRAINT id_pool_gid_disjoint EXCLUDE USING gist (gid_span WITH &&)
      )`);

    // One row per slot wholly inside the pool. state: free (never used, or released: then
    // released_at says when), leased, keyed (released but reserved for its sticky key),
    // shared (the pool's one slice for non-isolated containers), out_of_pool (leased, but the
    // pool shrank away from it: kept until released, then forgotten).
    await q.query(`
      CREATE TABLE id_slot (
        pool_id     int4 NOT NULL REFERENCES id_pool(id) ON DELETE CASCADE,
        slot        int4 NOT NULL,
        state       text NOT NULL DEFAULT 'free'
                    CHECK (state IN ('free', 'leased', 'keyed', 'shared', 'out_of_pool')),
        released_at timestamptz,
        PRIMARY KEY (pool_id, slot)
      ) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 200,
              autovacuum_analyze_scale_factor = 0.02, fillfactor = 90)`);
    // The picking order: never-used slots first, then least recently released.
    await q.query(`
      CREATE INDEX id_slot_pick ON id_slot (pool_id, released_at NULLS FIRST, slot)
      WHERE state = 'free'`);

    await q.query(`
      CREATE TABLE id_key (
        pool_id    int4 NOT NULL REFERENCES id_pool(id) ON DELETE CASCADE,
        key        text NOT NULL,
        first_slot int4 NOT NULL,
        slots      int4 NOT NULL CHECK (slots > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (pool_id, key)
      )`);

    // Every host range given to anyone: isolated slices, the shared slice, raw grants.
    await q.query(`
      CREATE TABLE id_slice (
        id          bigserial PRIMARY KEY,
        pool_id     int4 NOT NULL REFERENCES id_pool(id) ON DELETE CASCADE,
        owner       text,
        kind        text NOT NULL CHECK (kind IN ('isolated', 'shared', 'raw')),
        state       text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'quarantined', 'out_of_pool')),
        slot        int4,
        slots       int4,
        uid_range   int8range,
        gid_range   int8range,
        ns_uid      int8,
        ns_gid      int8,
        key         text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        released_at timestamptz,
        CHECK (uid_range IS NOT NULL OR gid_range IS NOT NULL),
        CHECK (uid_range IS NULL OR (NOT isempty(uid_range) AND lower(uid_range) > 0 AND upper(uid_range) <= 4294967295)),
        CHECK (gid_range IS NULL OR (NOT isempty(gid_range) AND lower(gid_range) > 0 AND upper(gid_range) <= 4294967295)),
        CHECK ((kind = 'shared') = (owner IS NULL)),
        CHECK (kind = 'raw' OR (slot IS NOT NULL AND slots > 0)),
        CONSTRAINT id_slice_uid_disjoint EXCLUDE USING gist (uid_range WITH &&) WHERE (state <> 'quarantined'),
        CONSTRAINT id_slice_gid_disjoint EXCLUDE USING gist (gid_range WITH &&) WHERE (state <> 'quarantined')
      )`);
    await q.query(`CREATE UNIQUE INDEX id_slice_one_shared ON id_slice (pool_id) WHERE kind = 'shared'`);
    await q.query(`CREATE INDEX id_slice_owner ON id_slice (owner) WHERE owner IS NOT NULL`);
    await q.query(`
      CREATE INDEX id_slice_quarantined_slots ON id_slice USING gist (pool_id, int4range(slot, slot + slots))
      WHERE state = 'quarantined'`);

    // One row per owner (container): what it asked for and where its map starts.
    await q.query(`
      CREATE TABLE id_lease (
        owner      text PRIMARY KEY,
        pool_id    int4 NOT NULL REFERENCES id_pool(id),
        isolated   boolean NOT NULL,
        slot       int4 NOT NULL,
        slots      int4 NOT NULL,
        uid_base   int8 NOT NULL,
        gid_base   int8 NOT NULL,
        size       int8 NOT NULL,
        key        text,
        raw        jsonb NOT NULL DEFAULT '[]',
        created_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(PICK_SLOTS_FUNCTION);
    await q.query(ALLOCATE_FUNCTION);
    await q.query(RELEASE_FUNCTION);
    await q.query(SYNC_FUNCTION);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION IF EXISTS nagaya_sync_pool(int4, int8multirange, int8multirange, int4[])`);
    await q.query(`DROP FUNCTION IF EXISTS nagaya_release(text)`);
    await q.query(`DROP FUNCTION IF EXISTS nagaya_allocate(int4, text, boolean, int4, text)`);
    await q.query(`DROP FUNCTION IF EXISTS nagaya_pick_slots(int4, int4, timestamptz)`);
    await q.query(`DROP TABLE IF EXISTS id_lease, id_slice, id_key, id_slot, id_pool`);
  }
}

/*
 * Error codes raised by the functions (SQLSTATE class NG), mapped to NagayaError codes in
 * packages/allocator/src/pg-errors.ts:
 *   NG001 pool exhausted  NG002 conflict  NG003 contention, retry  NG004 pool not found
 */

/**
 * nagaya_pick_slots(pool, n, cutoff) -> first slot of n contiguous free slots, row-locked.
 * n = 1 is one index probe (id_slot_pick) with SKIP LOCKED, so concurrent callers fan out to
 * different slots instead of queueing; only when every free slot is locked does it wait for one. n > 1 looks for runs of free slots (gaps and islands over
 * the free slots only). Slots released after `cutoff` are still cooling down and are skipped.
 * (Changed after this migration first shipped; 1764600000000-pick-slots-waits re-creates it.)
 */
export const PICK_SLOTS_FUNCTION = `
CREATE OR REPLACE FUNCTION nagaya_pick_slots(p_pool int4, p_n int4, p_cutoff timestamptz) RETURNS int4
LANGUAGE plpgsql
-- a wait for a locked slot gives up (SQLSTATE 55P03, retried by the allocator) rather than
-- queueing forever behind a holder that stalled with its transaction open
SET lock_timeout = '2s'
AS $fn$
DECLARE
  v_first  int4;
  v_locked int4;
  v_pass   int4;
  v_tried  boolean := false;
BEGIN
  IF p_n = 1 THEN
    SELECT s.slot INTO v_first FROM id_slot s
     WHERE s.pool_id = p_pool AND s.state = 'free'
       AND (s.released_at IS NULL OR s.released_at <= p_cutoff)
     ORDER BY s.released_at NULLS FIRST, s.slot
     LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF FOUND THEN RETURN v_first; END IF;
    -- Every free slot is row-locked by a concurrent caller (a nearly full pool). Queue behind them
    -- instead of failing: when a holder commits, the row no longer matches and the locking scan
    -- moves on to the next free slot; when it rolls back, the slot is ours. This transaction holds
    -- no other slot lock yet, so the wait cannot close a cycle. Each pass sees a new snapshot.
    FOR v_pass IN 1..8 LOOP
      SELECT s.slot INTO v_first FROM id_slot s
       WHERE s.pool_id = p_pool AND s.state = 'free'
         AND (s.released_at IS NULL OR s.released_at <= p_cutoff)
       ORDER BY s.released_at NULLS FIRST, s.slot
       LIMIT 1 FOR UPDATE;
      IF FOUND THEN RETURN v_first; END IF;
      PERFORM 1 FROM id_slot s
       WHERE s.pool_id = p_pool AND s.state = 'free'
         AND (s.released_at IS NULL OR s.released_at <= p_cutoff) LIMIT 1;
      v_tried := FOUND;
      EXIT WHEN NOT v_tried;
    END LOOP;
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

/**
 * nagaya_allocate(pool, owner, isolated, slots, key) -> the owner's lease (created = false when
 * the owner already had it: allocation is idempotent per owner). One call is one transaction.
 */
const ALLOCATE_FUNCTION = `
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

/**
 * nagaya_release(owner) -> true if the owner held a lease. Raw grants are freed at once; an
 * isolated slice is quarantined (its slots go back to the free list, stamped with released_at,
 * or stay reserved for the slice's sticky key); a slice outside the pool is forgotten.
 */
const RELEASE_FUNCTION = `
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

/**
 * nagaya_sync_pool(pool, uid_ranges, gid_ranges, valid_slots) -> counts of what changed.
 * Takes a lock that waits for in-flight allocations and holds new ones off while the inventory
 * is rewritten. Slots that left the pool: free ones are dropped, leased ones become out_of_pool
 * (kept and reported, never reused, never a reason to refuse a start). Slots that came back
 * are leased again; new slots are added unless a live grant (e.g. raw) already covers them.
 */
const SYNC_FUNCTION = `
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
