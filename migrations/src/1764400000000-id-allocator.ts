import type { MigrationInterface, QueryRunner } from 'typeorm';
import { ALLOCATE_FUNCTION } from './sql/1764400000000-allocate.sql';
import { PICK_SLOTS_FUNCTION } from './sql/1764400000000-pick-slots.sql';
import { RELEASE_FUNCTION } from './sql/1764400000000-release.sql';
import { SYNC_FUNCTION } from './sql/1764400000000-sync-pool.sql';

/*
 * Error codes raised by the functions (SQLSTATE class NG), mapped to NagayaError codes in
 * packages/allocator/src/pg-errors.ts:
 *   NG001 pool exhausted  NG002 conflict  NG003 contention, retry  NG004 pool not found
 */

/**
 * The ID allocator's schema. A slice is chosen in `nagaya_allocate` (one statement per
 * allocation, one round trip; its SQL is in sql/1764400000000-allocate.sql.ts) and given back in
 * `nagaya_release`. The exclusion constraints on `id_slice` are the final word: whatever the
 * functions do, two non-quarantined rows can never share a host uid or gid.
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
