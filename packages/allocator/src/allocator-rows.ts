import { buildIdMaps, type RawIdmapEntry } from './id-map';
import { parseRangeLiteral, type IdRange } from './id-range';
import type { Allocation, Lease, PoolInfo } from './types';

/** The allocator's tables as SQL returns them, and what each row becomes. */

export const POOL_SELECT = `SELECT id, name, uid_ranges::text AS uid_ranges, gid_ranges::text AS gid_ranges, uid_origin,
  gid_origin, slice_size, quarantine_seconds, raw_uid_allowed::text AS raw_uid_allowed,
  raw_gid_allowed::text AS raw_gid_allowed, source, created_at FROM id_pool`;

export interface PoolRow {
  id: number;
  name: string;
  uid_ranges: string;
  gid_ranges: string;
  uid_origin: string;
  gid_origin: string;
  slice_size: string;
  quarantine_seconds: number;
  raw_uid_allowed: string;
  raw_gid_allowed: string;
  source: string;
  created_at: Date;
}

/** A lease as nagaya_allocate returns it (`created` tells a new lease from an existing one). */
export interface LeaseRow {
  lease_owner: string;
  lease_pool: number;
  lease_isolated: boolean;
  lease_slot: number;
  lease_slots: number;
  lease_uid_base: string;
  lease_gid_base: string;
  lease_size: string;
  lease_key: string | null;
  lease_raw: RawIdmapEntry[];
  lease_created_at: Date;
  created: boolean;
}

/** A stored lease with its pool's name, as selectLeases returns it. */
export type StoredLeaseRow = LeaseRow & { pool_name: string };

/** The leases matching `where` (a condition on id_lease l, with the statement's parameters), shaped as LeaseRow. */
export function selectLeases(where: string): string {
  return `SELECT l.owner AS lease_owner, l.pool_id AS lease_pool, l.isolated AS lease_isolated, l.slot AS lease_slot,
              l.slots AS lease_slots, l.uid_base AS lease_uid_base, l.gid_base AS lease_gid_base, l.size AS lease_size,
              l.key AS lease_key, l.raw AS lease_raw, l.created_at AS lease_created_at, false AS created,
              p.name AS pool_name
         FROM id_lease l JOIN id_pool p ON p.id = l.pool_id WHERE ${where}`;
}

export interface SliceRow {
  pool: string;
  owner: string | null;
  kind: Allocation['kind'];
  state: Allocation['state'];
  slot: number | null;
  slots: number | null;
  uid_start: string | null;
  uid_end: string | null;
  gid_start: string | null;
  gid_end: string | null;
  ns_uid: string | null;
  ns_gid: string | null;
  key: string | null;
  created_at: Date;
  released_at: Date | null;
  shared_by: string[] | null;
}

export function poolFromRow(r: PoolRow): PoolInfo {
  return {
    id: r.id,
    name: r.name,
    uidRanges: parseRangeLiteral(r.uid_ranges),
    gidRanges: parseRangeLiteral(r.gid_ranges),
    uidOrigin: Number(r.uid_origin),
    gidOrigin: Number(r.gid_origin),
    sliceSize: Number(r.slice_size),
    quarantineSeconds: r.quarantine_seconds,
    rawAllowed: { uid: parseRangeLiteral(r.raw_uid_allowed), gid: parseRangeLiteral(r.raw_gid_allowed) },
    source: r.source,
    createdAt: r.created_at,
  };
}

export function leaseFromRow(r: LeaseRow, pool: string): Lease {
  const uidBase = Number(r.lease_uid_base);
  const gidBase = Number(r.lease_gid_base);
  const size = Number(r.lease_size);
  const raw = r.lease_raw ?? [];
  return {
    owner: r.lease_owner,
    pool,
    isolated: r.lease_isolated,
    slot: r.lease_slot,
    slots: r.lease_slots,
    size,
    uidBase,
    gidBase,
    key: r.lease_key,
    raw,
    maps: buildIdMaps({ uidBase, gidBase, size }, raw),
    createdAt: r.lease_created_at,
    created: r.created,
  };
}

export function allocationFromRow(r: SliceRow): Allocation {
  const range = (s: string | null, e: string | null): IdRange | null =>
    s === null || e === null ? null : { start: Number(s), end: Number(e) };
  return {
    pool: r.pool,
    owner: r.owner,
    kind: r.kind,
    state: r.state,
    slot: r.slot,
    slots: r.slots,
    uid: range(r.uid_start, r.uid_end),
    gid: range(r.gid_start, r.gid_end),
    nsUid: r.ns_uid === null ? null : Number(r.ns_uid),
    nsGid: r.ns_gid === null ? null : Number(r.ns_gid),
    key: r.key,
    ...(r.shared_by ? { sharedBy: r.shared_by } : {}),
    createdAt: r.created_at,
    releasedAt: r.released_at,
  };
}
