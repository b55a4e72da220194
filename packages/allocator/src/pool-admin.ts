import type { Pool as PgPool } from 'pg';
import { POOL_SELECT, poolFromRow, type PoolRow } from './allocator-rows';
import { AllocatorError } from './errors';
import { toMultirangeLiteral, type IdRange } from './id-range';
import { SqlState, sqlStateOf, toAllocatorError } from './pg-errors';
import { runMappedStatement, runTransaction } from './pg-session';
import { validSlots } from './pool-slots';
import { validatePoolSpec, validateRanges } from './pool-spec';
import type { PoolInfo, PoolSpec, SyncReport } from './types';

/** Where the allocator's warnings go. */
export type AllocatorWarn = (message: string, fields?: Record<string, unknown>) => void;

/**
 * Creates pools, reads them, and brings their slot inventory in line with new host ranges (an
 * /etc/subuid that changed). What is leased from a pool is the Allocator's business.
 */
export class PoolAdmin {
  constructor(
    private readonly db: PgPool,
    private readonly warn: AllocatorWarn,
  ) {}

  /** Creates a pool and its slot inventory; CONFLICT if the name exists or the ranges overlap another pool. */
  async createPool(spec: PoolSpec): Promise<PoolInfo> {
    const pool = validatePoolSpec(spec);
    const grid = { uidOrigin: pool.uidRanges[0]!.start, gidOrigin: pool.gidRanges[0]!.start, sliceSize: pool.sliceSize };
    const slots = validSlots(grid, pool.uidRanges, pool.gidRanges);
    if (slots.length === 0) {
      throw new AllocatorError('INVALID_INPUT', `pool ${pool.name} is smaller than one slice of ${pool.sliceSize} IDs`);
    }
    try {
      await runTransaction(this.db, async (c) => {
        const { rows } = await c.query<{ id: number }>(
          `INSERT INTO id_pool (name, uid_ranges, gid_ranges, uid_origin, gid_origin, slice_size,
                                quarantine_seconds, raw_uid_allowed, raw_gid_allowed, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
          [
            pool.name,
            toMultirangeLiteral(pool.uidRanges),
            toMultirangeLiteral(pool.gidRanges),
            grid.uidOrigin,
            grid.gidOrigin,
            pool.sliceSize,
            pool.quarantineSeconds,
            toMultirangeLiteral(pool.rawAllowed.uid),
            toMultirangeLiteral(pool.rawAllowed.gid),
            pool.source,
          ],
        );
        await c.query('SELECT * FROM nagaya_sync_pool($1, $2, $3, $4)', [
          rows[0]!.id,
          toMultirangeLiteral(pool.uidRanges),
          toMultirangeLiteral(pool.gidRanges),
          slots,
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
      const report = await runTransaction(this.db, async (c) => {
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
    const { rowCount } = await runMappedStatement(
      this.db,
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
    const { rows } = await runMappedStatement<PoolRow>(this.db, `${POOL_SELECT} ORDER BY name`);
    return rows.map(poolFromRow);
  }

  /** Returns a pool by name, or undefined. */
  async findPool(name: string): Promise<PoolInfo | undefined> {
    const { rows } = await runMappedStatement<PoolRow>(this.db, `${POOL_SELECT} WHERE name = $1`, [name]);
    return rows[0] ? poolFromRow(rows[0]) : undefined;
  }
}
