import type { Pool as PgPool, PoolClient } from 'pg';
import { allocationFromRow, leaseFromRow, selectLeases, type LeaseRow, type SliceRow, type StoredLeaseRow } from './allocator-rows';
import { AllocatorError } from './errors';
import type { IdRange } from './id-range';
import { mapsGids, mapsUids, validateRawEntries, type RawIdmapEntry } from './id-map';
import { isRetryable, SqlState, sqlStateOf, toAllocatorError } from './pg-errors';
import { runMappedStatement, runTransaction } from './pg-session';
import { PoolAdmin, type AllocatorWarn } from './pool-admin';
import { POOL_NAME } from './pool-spec';
import type { AllocateRequest, Allocation, Lease, PoolInfo, PoolSpec, PoolStats, SyncReport } from './types';

export const DEFAULT_POOL = 'default';
/** A lease larger than this many slices is refused (LXD's largest isolated map is far smaller). */
const MAX_SLOTS_PER_LEASE = 1024;
/** Races lost to concurrent callers are retried this many times before giving up... */
const MAX_ATTEMPTS = 25;
/** ...and for at least this long: on a busy, nearly full pool a caller may lose many races in a row. */
const RETRY_WINDOW_MS = 10_000;

export interface AllocatorOptions {
  /** Where warnings go (a pool that shrank over live leases, say). */
  warn?: AllocatorWarn;
}

/**
 * Hands out disjoint host uid/gid slices from pools, recorded in Postgres. Safe to use from any
 * number of processes and hosts at once: the choice of slot happens inside `nagaya_allocate`
 * (see migrations/), and the exclusion constraints on id_slice reject any overlap whatever happens.
 * Pool administration is PoolAdmin's; the pool methods here hand over to it.
 */
export class Allocator {
  private readonly poolIds = new Map<string, { id: number; sliceSize: number }>();
  private readonly pools: PoolAdmin;

  constructor(
    private readonly db: PgPool,
    options: AllocatorOptions = {},
  ) {
    this.pools = new PoolAdmin(db, options.warn ?? ((m) => console.warn(`[allocator] ${m}`)));
  }

  /** Creates a pool and its slot inventory; CONFLICT if the name exists or the ranges overlap another pool. */
  createPool(spec: PoolSpec): Promise<PoolInfo> {
    return this.pools.createPool(spec);
  }

  /** Creates the pool, or brings an existing one in line with `spec`'s ranges (see syncPool). */
  ensurePool(spec: PoolSpec): Promise<{ pool: PoolInfo; created: boolean; sync?: SyncReport }> {
    return this.pools.ensurePool(spec);
  }

  /**
   * Re-reads a pool's ranges (after /etc/subuid changed). Leases outside the new ranges are kept
   * as out_of_pool and reported, never reused and never a reason to refuse a start.
   */
  syncPool(name: string, uidRanges: IdRange[], gidRanges: IdRange[]): Promise<SyncReport> {
    return this.pools.syncPool(name, uidRanges, gidRanges);
  }

  /** Sets the host ranges that raw map entries of this pool may grant. */
  setRawAllowed(name: string, allowed: { uid?: IdRange[]; gid?: IdRange[] }): Promise<PoolInfo> {
    return this.pools.setRawAllowed(name, allowed);
  }

  /** Returns a pool by name; NOT_FOUND if there is none. */
  getPool(name: string): Promise<PoolInfo> {
    return this.pools.getPool(name);
  }

  /** Lists every pool, by name. */
  listPools(): Promise<PoolInfo[]> {
    return this.pools.listPools();
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
      // 512: a caller's own namespace (nagaya's `@project/`) in front of a 253-character key
      if (typeof key !== 'string' || key.length < 1 || key.length > 512) {
        throw new AllocatorError('INVALID_INPUT', 'key must be a string of 1 to 512 characters');
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
        const row =
          raw.length === 0
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
    c: PoolClient,
    poolId: number,
    owner: string,
    isolated: boolean,
    slots: number,
    key: string | null,
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
    const { rows } = await c.query<{ raw: RawIdmapEntry[] }>('UPDATE id_lease SET raw = $2 WHERE owner = $1 RETURNING raw', [
      owner,
      JSON.stringify(raw),
    ]);
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

  /**
   * Fences what `owner` holds: its container may still run on `node`, which nobody can reach, so
   * its IDs are never handed out again (release() refuses a fenced lease) until unfence().
   * Returns false when the owner holds nothing.
   */
  async fence(owner: string, node: string): Promise<boolean> {
    validateOwner(owner);
    const { rows } = await this.query<{ fenced: boolean }>('SELECT nagaya_fence($1, $2) AS fenced', [owner, node]);
    return rows[0]!.fenced;
  }

  /**
   * Lifts the fences `node` holds (of one owner, or all) and gives their leases back: the node
   * confirmed their processes are gone, or an admin said the host is off. Returns the owners.
   */
  async unfence(node: string, owner?: string): Promise<string[]> {
    const { rows } = await this.query<{ owner: string }>('SELECT DISTINCT o AS owner FROM nagaya_unfence($1, $2) AS o', [
      node,
      owner ?? null,
    ]);
    for (const r of rows) await this.release(r.owner);
    return rows.map((r) => r.owner);
  }

  /** The owners whose slices are fenced, with the node each is fenced on. */
  async fenced(): Promise<Array<{ owner: string; node: string }>> {
    const { rows } = await this.query<{ owner: string; node: string }>(
      'SELECT DISTINCT owner, fenced_node AS node FROM id_slice WHERE fenced_node IS NOT NULL ORDER BY owner',
    );
    return rows;
  }

  /** Returns the lease of `owner`; NOT_FOUND if it holds none. */
  async get(owner: string): Promise<Lease> {
    const lease = await this.find(owner);
    if (!lease) throw new AllocatorError('NOT_FOUND', `${owner} holds no ID lease`);
    return lease;
  }

  /** Returns the lease of `owner`, or undefined. */
  async find(owner: string): Promise<Lease | undefined> {
    const { rows } = await this.query<StoredLeaseRow>(selectLeases('l.owner = $1'), [owner]);
    return rows[0] ? leaseFromRow(rows[0], rows[0].pool_name) : undefined;
  }

  /** Returns the leases of several owners at once (owners without a lease are absent from the map). */
  async findMany(owners: readonly string[]): Promise<Map<string, Lease>> {
    if (owners.length === 0) return new Map();
    const { rows } = await this.query<StoredLeaseRow>(selectLeases('l.owner = ANY ($1)'), [owners]);
    return new Map(rows.map((r) => [r.lease_owner, leaseFromRow(r, r.pool_name)]));
  }

  /** Lists every owner holding a lease that is not fenced, with when it got it (for reconcilers looking for orphans). */
  async owners(): Promise<Array<{ owner: string; pool: string; createdAt: Date }>> {
    const { rows } = await this.query<{ owner: string; pool: string; created_at: Date }>(
      `SELECT l.owner, p.name AS pool, l.created_at FROM id_lease l JOIN id_pool p ON p.id = l.pool_id
        WHERE NOT EXISTS (SELECT 1 FROM id_slice s WHERE s.owner = l.owner AND s.fenced_node IS NOT NULL) ORDER BY l.created_at`,
    );
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
      pool: poolName,
      sliceSize: pool.sliceSize,
      total: Number(r.total),
      active: Number(r.active),
      shared: Number(r.shared),
      keyed: Number(r.keyed),
      quarantined: Number(r.quarantined),
      free: Number(r.free),
      outOfPool: Number(r.out_of_pool),
      leases: Number(r.leases),
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
        'DELETE FROM id_key WHERE pool_id = $1 AND key = $2 RETURNING first_slot, slots',
        [pool.id, key],
      );
      const k = rows[0];
      if (!k) return false;
      const held = await c.query('SELECT 1 FROM id_lease WHERE pool_id = $1 AND key = $2', [pool.id, key]);
      if (held.rowCount) throw new AllocatorError('CONFLICT', `key ${key} is held by a live owner`);
      await c.query(`UPDATE id_slot SET state = 'free' WHERE pool_id = $1 AND slot >= $2 AND slot < $2 + $3 AND state = 'keyed'`, [
        pool.id,
        k.first_slot,
        k.slots,
      ]);
      return true;
    });
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

  private query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]) {
    return runMappedStatement<R>(this.db, text, values);
  }

  private transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return runTransaction(this.db, fn);
  }
}

const ALLOCATE_SQL = 'SELECT * FROM nagaya_allocate($1, $2, $3, $4, $5)';

function canonicalRaw(raw: readonly RawIdmapEntry[]): string {
  return JSON.stringify(raw.map((e) => [e.kind, e.hostId, e.nsId, e.count]));
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

function validateOwner(owner: unknown): string {
  if (typeof owner !== 'string' || owner.length < 1 || owner.length > 256 || hasControlCharacter(owner)) {
    throw new AllocatorError('INVALID_INPUT', 'owner must be a string of 1 to 256 printable characters');
  }
  return owner;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
