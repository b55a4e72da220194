import type { Pool as PgPool, PoolClient } from 'pg';
import { AllocatorError } from './errors';
import { ID_LIMIT, mergeRanges, parseRangeLiteral, toMultirangeLiteral, type IdRange } from './id-range';
import { buildIdMaps, mapsGids, mapsUids, validateRawEntries, type RawIdmapEntry } from './id-map';
import { DEFAULT_SLICE_SIZE, validSlots } from './pool-slots';
import { isRetryable, SqlState, sqlStateOf, toAllocatorError } from './pg-errors';
import { runStatement, runTransaction } from './pg-session';
import type { AllocateRequest, Allocation, Lease, PoolInfo, PoolSpec, PoolStats, SyncReport } from './types';

export const DEFAULT_POOL = 'default';
const DEFAULT_QUARANTINE_SECONDS = 60;
/** A lease larger than this many slices is refused (LXD's largest isolated map is far smaller). */
const MAX_SLOTS_PER_LEASE = 1024;
/** Races lost to concurrent callers are retried this many times before giving up... */
const MAX_ATTEMPTS = 25;
/** ...and for at least this long: on a busy, nearly full pool a caller may lose many races in a row. */
const RETRY_WINDOW_MS = 10_000;
const POOL_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface AllocatorOptions {
  /** Where warnings go (a pool that shrank over live leases, say). */
  warn?: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * Hands out disjoint host uid/gid slices from pools, recorded in Postgres. Safe to use from any
 * number of processes and hosts at once: the choice of slot happens inside `nagaya_allocate`
 * (see migrations/), and the exclusion constraints on id_slice reject any overlap whatever happens.
 */
export class Allocator {
  private readonly poolIds = new Map<string, { id: number; sliceSize: number }>();
  private readonly warn: NonNullable<AllocatorOptions['warn']>;

  constructor(
    private readonly db: PgPool,
    options: AllocatorOptions = {},
  ) {
    this.warn = options.warn ?? ((m) => console.warn(`[allocator] ${m}`));
  }

  /** Creates a pool and its slot inventory; CONFLICT if the name exists or the ranges overlap another pool. */
  async createPool(spec: PoolSpec): Promise<PoolInfo> {
    const pool = validatePoolSpec(spec);
    const grid = { uidOrigin: pool.uidRanges[0]!.start, gidOrigin: pool.gidRanges[0]!.start, sliceSize: pool.sliceSize };
    const slots = validSlots(grid, pool.uidRanges, pool.gidRanges);
    if (slots.length === 0) {
      throw new AllocatorError('INVALID_INPUT', `pool ${pool.name} is smaller than one slice of ${pool.sliceSize} IDs`);
    }
    try {
      await this.transaction(async (c) => {
        const { rows } = await c.query<{ id: number }>(
          `INSERT INTO id_pool (name, uid_ranges, gid_ranges, uid_origin, gid_origin, slice_size,
                                quarantine_seconds, raw_uid_allowed, raw_gid_allowed, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
          [pool.name, toMultirangeLiteral(pool.uidRanges), toMultirangeLiteral(pool.gidRanges), grid.uidOrigin,
           grid.gidOrigin, pool.sliceSize, pool.quarantineSeconds, toMultirangeLiteral(pool.rawAllowed.uid),
           toMultirangeLiteral(pool.rawAllowed.gid), pool.source],
        );
        await c.query('SELECT * FROM nagaya_sync_pool($1, $2, $3, $4)', [
          rows[0]!.id, toMultirangeLiteral(pool.uidRanges), toMultirangeLiteral(pool.gidRanges), slots,
        ]);
      });
    } catch (err) {
      const state = sqlStateOf(err);
      if (state === SqlState.uniqueViolation) throw new AllocatorError('CONFLICT', `pool ${pool.name} already exists`);
      if (state === SqlState.exclusionViolation) {
        throw new AllocatorError('CONFLICT', `pool ${pool.name} overlaps the host ranges of another pool`);
      }
      throw toAllocatorError(err);
    }
    return this.getPool(pool.name);
  }

  /** Creates the pool, or brings an existing one in line with `spec`'s ranges (see syncPool). */
  async ensurePool(spec: PoolSpec): Promise<{ pool: PoolInfo; created: boolean; sync?: SyncReport }> {
    const existing = await this.findPool(spec.name);
    if (!existing) {
      try {
        return { pool: await this.createPool(spec), created: true };
      } catch (err) {
        // another process created it between our look and our insert: fall through to sync
        if (!(err instanceof AllocatorError && err.code === 'CONFLICT' && (await this.findPool(spec.name)))) throw err;
      }
    }
    const sync = await this.syncPool(spec.name, spec.uidRanges, spec.gidRanges);
    return { pool: await this.getPool(spec.name), created: false, sync };
  }

  /**
   * Re-reads a pool's ranges (after /etc/subuid changed). Leases outside the new ranges are kept
   * as out_of_pool and reported, never reused and never a reason to refuse a start.
   */
  async syncPool(name: string, uidRanges: IdRange[], gidRanges: IdRange[]): Promise<SyncReport> {
    const pool = await this.getPool(name);
    const uid = validateRanges(uidRanges, 'uidRanges');
    const gid = validateRanges(gidRanges, 'gidRanges');
    const slots = validSlots(pool, uid, gid);
    try {
      const report = await this.transaction(async (c) => {
        const { rows } = await c.query<{ added: number; removed: number; out_of_pool: number; returned: number }>(
          'SELECT * FROM nagaya_sync_pool($1, $2, $3, $4)',
          [pool.id, toMultirangeLiteral(uid), toMultirangeLiteral(gid), slots],
        );
        return rows[0]!;
      });
      if (report.out_of_pool > 0) {
        this.warn(`pool ${name} shrank: ${report.out_of_pool} leased slot(s) are now outside it (kept as out_of_pool)`);
      }
      return { pool: name, added: report.added, removed: report.removed, outOfPool: report.out_of_pool, returned: report.returned };
    } catch (err) {
      if (sqlStateOf(err) === SqlState.exclusionViolation) {
        throw new AllocatorError('CONFLICT', `pool ${name}'s new ranges overlap another pool`);
      }
      throw toAllocatorError(err);
    }
  }

  /** Sets the host ranges that raw map entries of this pool may grant. */
  async setRawAllowed(name: string, allowed: { uid?: IdRange[]; gid?: IdRange[] }): Promise<PoolInfo> {
    const uid = allowed.uid ? validateRanges(allowed.uid, 'rawAllowed.uid', true) : [];
    const gid = allowed.gid ? validateRanges(allowed.gid, 'rawAllowed.gid', true) : [];
    const { rowCount } = await this.query(
      'UPDATE id_pool SET raw_uid_allowed = $2, raw_gid_allowed = $3, updated_at = now() WHERE name = $1',
      [name, toMultirangeLiteral(uid), toMultirangeLiteral(gid)],
    );
    if (!rowCount) throw new AllocatorError('NOT_FOUND', `pool ${name} does not exist`);
    return this.getPool(name);
  }

  /** Returns a pool by name; NOT_FOUND if there is none. */
  async getPool(name: string): Promise<PoolInfo> {
    const pool = await this.findPool(name);
    if (!pool) throw new AllocatorError('NOT_FOUND', `pool ${name} does not exist`);
    return pool;
  }

  /** Lists every pool, by name. */
  async listPools(): Promise<PoolInfo[]> {
    const { rows } = await this.query<PoolRow>(`${POOL_SELECT} ORDER BY name`);
    return rows.map(poolFromRow);
  }

  /**
   * Gives `owner` its slice (and raw grants) and returns the final map lines. Idempotent per
   * owner: asking again returns the same lease; asking again with other options is a CONFLICT.
   */
  async allocate(request: AllocateRequest): Promise<Lease> {
    const owner = validateOwner(request.owner);
    const isolated = request.isolated ?? true;
    if (typeof isolated !== 'boolean') throw new AllocatorError('INVALID_INPUT', 'isolated must be a boolean');
    const raw = validateRawEntries(request.raw);
    const key = request.key ?? null;
    if (key !== null) {
      if (typeof key !== 'string' || key.length < 1 || key.length > 253) {
        throw new AllocatorError('INVALID_INPUT', 'key must be a string of 1 to 253 characters');
      }
      if (!isolated) throw new AllocatorError('INVALID_INPUT', 'a sticky key needs an isolated map (isolated: true)');
    }
    const poolName = request.pool ?? DEFAULT_POOL;
    const pool = await this.poolRef(poolName);
    const size = request.size ?? pool.sliceSize;
    if (!Number.isSafeInteger(size) || size < pool.sliceSize || size % pool.sliceSize !== 0) {
      throw new AllocatorError('INVALID_INPUT', `size must be a positive multiple of ${pool.sliceSize}`, { size });
    }
    const slots = size / pool.sliceSize;
    if (slots > MAX_SLOTS_PER_LEASE) {
      throw new AllocatorError('INVALID_INPUT', `size may be at most ${MAX_SLOTS_PER_LEASE * pool.sliceSize}`, { size });
    }
    if (!isolated && slots !== 1) throw new AllocatorError('INVALID_INPUT', 'the shared map has exactly one slice; omit size');

    const startedAt = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const row = raw.length === 0
          ? (await this.query<LeaseRow>(ALLOCATE_SQL, [pool.id, owner, isolated, slots, key])).rows[0]!
          : await this.transaction((c) => this.allocateWithRaw(c, pool.id, owner, isolated, slots, key, raw));
        const lease = leaseFromRow(row, poolName);
        if (!row.created && canonicalRaw(lease.raw) !== canonicalRaw(raw)) {
          throw new AllocatorError('CONFLICT', `owner ${owner} already holds a lease with other raw entries`);
        }
        return lease;
      } catch (err) {
        if (isRetryable(err) && (attempt < MAX_ATTEMPTS || Date.now() - startedAt < RETRY_WINDOW_MS)) {
          await sleep(Math.random() * 2 * Math.min(attempt, MAX_ATTEMPTS));
          continue;
        }
        throw toAllocatorError(err);
      }
    }
  }

  /** Runs nagaya_allocate and then records the raw grants, inside the caller's transaction. */
  private async allocateWithRaw(
    c: PoolClient, poolId: number, owner: string, isolated: boolean, slots: number, key: string | null,
    raw: RawIdmapEntry[],
  ): Promise<LeaseRow> {
    const row = (await c.query<LeaseRow>(ALLOCATE_SQL, [poolId, owner, isolated, slots, key])).rows[0]!;
    if (!row.created) return row;
    for (const [index, entry] of raw.entries()) {
      const uid = mapsUids(entry) ? `[${entry.hostId},${entry.hostId + entry.count})` : null;
      const gid = mapsGids(entry) ? `[${entry.hostId},${entry.hostId + entry.count})` : null;
      const { rows } = await c.query<{ allowed: boolean; in_pool: boolean }>(
        `SELECT ($2::int8range IS NULL OR p.raw_uid_allowed @> $2::int8range)
            AND ($3::int8range IS NULL OR p.raw_gid_allowed @> $3::int8range) AS allowed,
                EXISTS (SELECT 1 FROM id_pool o WHERE o.uid_ranges && $2::int8range OR o.gid_ranges && $3::int8range) AS in_pool
           FROM id_pool p WHERE p.id = $1`,
        [poolId, uid, gid],
      );
      if (!rows[0]?.allowed) {
        throw new AllocatorError('FORBIDDEN', `idmap.raw[${index}] maps host IDs an admin has not allowed for raw grants`, { entry });
      }
      if (rows[0].in_pool) {
        throw new AllocatorError('CONFLICT', `idmap.raw[${index}] reaches into a pool's slice area`, { entry });
      }
      try {
        await c.query(
          `INSERT INTO id_slice (pool_id, owner, kind, uid_range, gid_range, ns_uid, ns_gid)
           VALUES ($1, $2, 'raw', $3, $4, $5, $6)`,
          [poolId, owner, uid, gid, uid ? entry.nsId : null, gid ? entry.nsId : null],
        );
      } catch (err) {
        if (sqlStateOf(err) === SqlState.exclusionViolation) {
          throw new AllocatorError('CONFLICT', `idmap.raw[${index}] maps host IDs already granted to someone else`, { entry });
        }
        throw err;
      }
    }
    const { rows } = await c.query<{ raw: RawIdmapEntry[] }>(
      'UPDATE id_lease SET raw = $2 WHERE owner = $1 RETURNING raw', [owner, JSON.stringify(raw)],
    );
    return { ...row, lease_raw: rows[0]!.raw };
  }

  /** Releases everything `owner` holds; returns false if it held nothing (releasing twice is fine). */
  async release(owner: string): Promise<boolean> {
    validateOwner(owner);
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await this.query<{ released: boolean }>('SELECT nagaya_release($1) AS released', [owner]);
        return rows[0]!.released;
      } catch (err) {
        if (attempt < MAX_ATTEMPTS && isRetryable(err)) continue;
        throw toAllocatorError(err);
      }
    }
  }

  /** Returns the lease of `owner`; NOT_FOUND if it holds none. */
  async get(owner: string): Promise<Lease> {
    const lease = await this.find(owner);
    if (!lease) throw new AllocatorError('NOT_FOUND', `${owner} holds no ID lease`);
    return lease;
  }

  /** Returns the lease of `owner`, or undefined. */
  async find(owner: string): Promise<Lease | undefined> {
    const { rows } = await this.query<LeaseRow & { pool_name: string }>(
      `SELECT l.owner AS lease_owner, l.pool_id AS lease_pool, l.isolated AS lease_isolated, l.slot AS lease_slot,
              l.slots AS lease_slots, l.uid_base AS lease_uid_base, l.gid_base AS lease_gid_base, l.size AS lease_size,
              l.key AS lease_key, l.raw AS lease_raw, l.created_at AS lease_created_at, false AS created,
              p.name AS pool_name
         FROM id_lease l JOIN id_pool p ON p.id = l.pool_id WHERE l.owner = $1`,
      [owner],
    );
    return rows[0] ? leaseFromRow(rows[0], rows[0].pool_name) : undefined;
  }

  /** Returns the leases of several owners at once (owners without a lease are absent from the map). */
  async findMany(owners: readonly string[]): Promise<Map<string, Lease>> {
    if (owners.length === 0) return new Map();
    const { rows } = await this.query<LeaseRow & { pool_name: string }>(
      `SELECT l.owner AS lease_owner, l.pool_id AS lease_pool, l.isolated AS lease_isolated, l.slot AS lease_slot,
              l.slots AS lease_slots, l.uid_base AS lease_uid_base, l.gid_base AS lease_gid_base, l.size AS lease_size,
              l.key AS lease_key, l.raw AS lease_raw, l.created_at AS lease_created_at, false AS created,
              p.name AS pool_name
         FROM id_lease l JOIN id_pool p ON p.id = l.pool_id WHERE l.owner = ANY ($1)`,
      [owners],
    );
    return new Map(rows.map((r) => [r.lease_owner, leaseFromRow(r, r.pool_name)]));
  }

  /** Lists every owner holding a lease, with when it got it (for reconcilers looking for orphans). */
  async owners(): Promise<Array<{ owner: string; pool: string; createdAt: Date }>> {
    const { rows } = await this.query<{ owner: string; pool: string; created_at: Date }>(
      'SELECT l.owner, p.name AS pool, l.created_at FROM id_lease l JOIN id_pool p ON p.id = l.pool_id ORDER BY l.created_at');
    return rows.map((r) => ({ owner: r.owner, pool: r.pool, createdAt: r.created_at }));
  }

  /** Lists who holds which host range (optionally of one pool, optionally with quarantined history). */
  async list(filter: { pool?: string; includeQuarantined?: boolean } = {}): Promise<Allocation[]> {
    const { rows } = await this.query<SliceRow>(
      `SELECT p.name AS pool, s.owner, s.kind, s.state, s.slot, s.slots, lower(s.uid_range) AS uid_start,
              upper(s.uid_range) AS uid_end, lower(s.gid_range) AS gid_start, upper(s.gid_range) AS gid_end,
              s.ns_uid, s.ns_gid, s.key, s.created_at, s.released_at,
              CASE WHEN s.kind = 'shared' THEN (SELECT coalesce(array_agg(l.owner ORDER BY l.owner), '{}')
                FROM id_lease l WHERE l.pool_id = s.pool_id AND NOT l.isolated) END AS shared_by
         FROM id_slice s JOIN id_pool p ON p.id = s.pool_id
        WHERE ($1::text IS NULL OR p.name = $1) AND ($2 OR s.state <> 'quarantined')
        ORDER BY p.name, coalesce(lower(s.uid_range), lower(s.gid_range))`,
      [filter.pool ?? null, filter.includeQuarantined ?? false],
    );
    return rows.map(allocationFromRow);
  }

  /** Counts a pool's slots by state. */
  async stats(poolName = DEFAULT_POOL): Promise<PoolStats> {
    const pool = await this.poolRef(poolName);
    const { rows } = await this.query<Record<string, string>>(
      `SELECT count(*) FILTER (WHERE s.state <> 'out_of_pool') AS total,
              count(*) FILTER (WHERE s.state = 'leased') AS active,
              count(*) FILTER (WHERE s.state = 'shared') AS shared,
              count(*) FILTER (WHERE s.state = 'keyed') AS keyed,
              count(*) FILTER (WHERE s.state = 'free' AND s.released_at > c.cutoff) AS quarantined,
              count(*) FILTER (WHERE s.state = 'free' AND (s.released_at IS NULL OR s.released_at <= c.cutoff)) AS free,
              count(*) FILTER (WHERE s.state = 'out_of_pool') AS out_of_pool,
              (SELECT count(*) FROM id_lease l WHERE l.pool_id = $1) AS leases
         FROM id_slot s,
              (SELECT clock_timestamp() - make_interval(secs => quarantine_seconds) AS cutoff FROM id_pool WHERE id = $1) c
        WHERE s.pool_id = $1`,
      [pool.id],
    );
    const r = rows[0]!;
    return {
      pool: poolName, sliceSize: pool.sliceSize, total: Number(r.total), active: Number(r.active),
      shared: Number(r.shared), keyed: Number(r.keyed), quarantined: Number(r.quarantined), free: Number(r.free),
      outOfPool: Number(r.out_of_pool), leases: Number(r.leases),
    };
  }

  /** Tells, with one index probe, whether a pool has at least one slot that could be handed out now. */
  async hasFreeSlot(poolName = DEFAULT_POOL): Promise<boolean> {
    const pool = await this.poolRef(poolName);
    const { rows } = await this.query<{ free: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM id_slot s, id_pool p
          WHERE s.pool_id = $1 AND p.id = $1 AND s.state = 'free'
            AND (s.released_at IS NULL OR s.released_at <= clock_timestamp() - make_interval(secs => p.quarantine_seconds))) AS free`,
      [pool.id],
    );
    return rows[0]!.free;
  }

  /** Drops a sticky key so its reserved slots go back to the free list; CONFLICT while a live owner holds them. */
  async forgetKey(poolName: string, key: string): Promise<boolean> {
    const pool = await this.poolRef(poolName);
    return this.transaction(async (c) => {
      const { rows } = await c.query<{ first_slot: number; slots: number }>(
        'DELETE FROM id_key WHERE pool_id = $1 AND key = $2 RETURNING first_slot, slots', [pool.id, key],
      );
      const k = rows[0];
      if (!k) return false;
      const held = await c.query('SELECT 1 FROM id_lease WHERE pool_id = $1 AND key = $2', [pool.id, key]);
      if (held.rowCount) throw new AllocatorError('CONFLICT', `key ${key} is held by a live owner`);
      await c.query(
        `UPDATE id_slot SET state = 'free' WHERE pool_id = $1 AND slot >= $2 AND slot < $2 + $3 AND state = 'keyed'`,
        [pool.id, k.first_slot, k.slots],
      );
      return true;
    });
  }

  private async findPool(name: string): Promise<PoolInfo | undefined> {
    const { rows } = await this.query<PoolRow>(`${POOL_SELECT} WHERE name = $1`, [name]);
    return rows[0] ? poolFromRow(rows[0]) : undefined;
  }

  /** A pool's id and slice size never change, so they are cached by name. */
  private async poolRef(name: string): Promise<{ id: number; sliceSize: number }> {
    if (typeof name !== 'string' || !POOL_NAME.test(name)) {
      throw new AllocatorError('INVALID_INPUT', 'pool must be a DNS label (a-z, 0-9, -)', { pool: name });
    }
    let ref = this.poolIds.get(name);
    if (!ref) {
      const pool = await this.getPool(name);
      ref = { id: pool.id, sliceSize: pool.sliceSize };
      this.poolIds.set(name, ref);
    }
    return ref;
  }

  private async query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]) {
    try {
      return await runStatement<R>(this.db, text, values);
    } catch (err) {
      if (isRetryable(err)) throw err;
      throw toAllocatorError(err);
    }
  }

  private transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return runTransaction(this.db, fn);
  }
}

const ALLOCATE_SQL = 'SELECT * FROM nagaya_allocate($1, $2, $3, $4, $5)';

const POOL_SELECT = `SELECT id, name, uid_ranges::text AS uid_ranges, gid_ranges::text AS gid_ranges, uid_origin,
  gid_origin, slice_size, quarantine_seconds, raw_uid_allowed::text AS raw_uid_allowed,
  raw_gid_allowed::text AS raw_gid_allowed, source, created_at FROM id_pool`;

interface PoolRow {
  id: number; name: string; uid_ranges: string; gid_ranges: string; uid_origin: string; gid_origin: string;
  slice_size: string; quarantine_seconds: number; raw_uid_allowed: string; raw_gid_allowed: string; source: string;
  created_at: Date;
}

interface LeaseRow {
  lease_owner: string; lease_pool: number; lease_isolated: boolean; lease_slot: number; lease_slots: number;
  lease_uid_base: string; lease_gid_base: string; lease_size: string; lease_key: string | null;
  lease_raw: RawIdmapEntry[]; lease_created_at: Date; created: boolean;
}

interface SliceRow {
  pool: string; owner: string | null; kind: Allocation['kind']; state: Allocation['state']; slot: number | null;
  slots: number | null; uid_start: string | null; uid_end: string | null; gid_start: string | null;
  gid_end: string | null; ns_uid: string | null; ns_gid: string | null; key: string | null; created_at: Date;
  released_at: Date | null; shared_by: string[] | null;
}

function poolFromRow(r: PoolRow): PoolInfo {
  return {
    id: r.id, name: r.name, uidRanges: parseRangeLiteral(r.uid_ranges), gidRanges: parseRangeLiteral(r.gid_ranges),
    uidOrigin: Number(r.uid_origin), gidOrigin: Number(r.gid_origin), sliceSize: Number(r.slice_size),
    quarantineSeconds: r.quarantine_seconds,
    rawAllowed: { uid: parseRangeLiteral(r.raw_uid_allowed), gid: parseRangeLiteral(r.raw_gid_allowed) },
    source: r.source, createdAt: r.created_at,
  };
}

function leaseFromRow(r: LeaseRow, pool: string): Lease {
  const uidBase = Number(r.lease_uid_base);
  const gidBase = Number(r.lease_gid_base);
  const size = Number(r.lease_size);
  const raw = r.lease_raw ?? [];
  return {
    owner: r.lease_owner, pool, isolated: r.lease_isolated, slot: r.lease_slot, slots: r.lease_slots, size,
    uidBase, gidBase, key: r.lease_key, raw, maps: buildIdMaps({ uidBase, gidBase, size }, raw),
    createdAt: r.lease_created_at, created: r.created,
  };
}

function allocationFromRow(r: SliceRow): Allocation {
  const range = (s: string | null, e: string | null): IdRange | null => (s === null || e === null ? null : { start: Number(s), end: Number(e) });
  return {
    pool: r.pool, owner: r.owner, kind: r.kind, state: r.state, slot: r.slot, slots: r.slots,
    uid: range(r.uid_start, r.uid_end), gid: range(r.gid_start, r.gid_end),
    nsUid: r.ns_uid === null ? null : Number(r.ns_uid), nsGid: r.ns_gid === null ? null : Number(r.ns_gid),
    key: r.key, ...(r.shared_by ? { sharedBy: r.shared_by } : {}), createdAt: r.created_at, releasedAt: r.released_at,
  };
}

function canonicalRaw(raw: readonly RawIdmapEntry[]): string {
  return JSON.stringify(raw.map((e) => [e.kind, e.hostId, e.nsId, e.count]));
}

function validateOwner(owner: unknown): string {
  if (typeof owner !== 'string' || owner.length < 1 || owner.length > 256 || /[\u0000-\u001f]/.test(owner)) {
    throw new AllocatorError('INVALID_INPUT', 'owner must be a string of 1 to 256 printable characters');
  }
  return owner;
}

/** Checks ranges from untrusted input and returns them merged. */
function validateRanges(ranges: unknown, what: string, allowEmpty = false): IdRange[] {
  if (!Array.isArray(ranges) || (!allowEmpty && ranges.length === 0)) {
    throw new AllocatorError('INVALID_INPUT', `${what} must be a ${allowEmpty ? '' : 'non-empty '}array of {start, end}`);
  }
  for (const r of ranges as Array<Partial<IdRange>>) {
    const ok = typeof r === 'object' && r !== null && Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end);
    if (!ok) throw new AllocatorError('INVALID_INPUT', `${what}: every range needs integer start and end`);
    const { start, end } = r as IdRange;
    if (start < 1) throw new AllocatorError('INVALID_INPUT', `${what}: a range may not include host ID 0`, { range: r });
    if (end <= start) throw new AllocatorError('INVALID_INPUT', `${what}: a range must end after it starts`, { range: r });
    if (end > ID_LIMIT) throw new AllocatorError('INVALID_INPUT', `${what}: a range passes ${ID_LIMIT} (2^32 - 1)`, { range: r });
  }
  return mergeRanges(ranges as IdRange[]);
}

function validatePoolSpec(spec: PoolSpec): Required<Omit<PoolSpec, 'rawAllowed'>> & { rawAllowed: { uid: IdRange[]; gid: IdRange[] } } {
  if (typeof spec?.name !== 'string' || !POOL_NAME.test(spec.name)) {
    throw new AllocatorError('INVALID_INPUT', 'pool name must be a DNS label (a-z, 0-9, -, at most 63)');
  }
  const sliceSize = spec.sliceSize ?? DEFAULT_SLICE_SIZE;
  if (!Number.isSafeInteger(sliceSize) || sliceSize < DEFAULT_SLICE_SIZE || sliceSize % DEFAULT_SLICE_SIZE !== 0) {
    throw new AllocatorError('INVALID_INPUT', `sliceSize must be a positive multiple of ${DEFAULT_SLICE_SIZE}`);
  }
  const quarantineSeconds = spec.quarantineSeconds ?? DEFAULT_QUARANTINE_SECONDS;
  if (!Number.isSafeInteger(quarantineSeconds) || quarantineSeconds < 0 || quarantineSeconds > 365 * 86400) {
    throw new AllocatorError('INVALID_INPUT', 'quarantineSeconds must be an integer from 0 to one year');
  }
  return {
    name: spec.name,
    uidRanges: validateRanges(spec.uidRanges, 'uidRanges'),
    gidRanges: validateRanges(spec.gidRanges, 'gidRanges'),
    sliceSize,
    quarantineSeconds,
    rawAllowed: {
      uid: validateRanges(spec.rawAllowed?.uid ?? [], 'rawAllowed.uid', true),
      gid: validateRanges(spec.rawAllowed?.gid ?? [], 'rawAllowed.gid', true),
    },
    source: spec.source ?? 'explicit',
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
