import type { IdRange } from './id-range';
import type { IdMaps, RawIdmapEntry } from './id-map';

/** What a pool is made of; ranges are half-open host ID ranges. */
export interface PoolSpec {
  name: string;
  uidRanges: IdRange[];
  gidRanges: IdRange[];
  /** IDs per slot; a multiple of 65536 (default 65536). */
  sliceSize?: number;
  /** How long a released slice rests before anyone else may get it (default 60 s). */
  quarantineSeconds?: number;
  /** Host ranges an admin allows raw map entries to grant (default: none). */
  rawAllowed?: { uid?: IdRange[]; gid?: IdRange[] };
  /** Where the ranges came from, e.g. /etc/subuid, for people reading `GET /pools`. */
  source?: string;
}

export interface PoolInfo {
  id: number;
  name: string;
  uidRanges: IdRange[];
  gidRanges: IdRange[];
  uidOrigin: number;
  gidOrigin: number;
  sliceSize: number;
  quarantineSeconds: number;
  rawAllowed: { uid: IdRange[]; gid: IdRange[] };
  source: string;
  createdAt: Date;
}

export interface AllocateRequest {
  /** Who the IDs are for (a container id). One lease per owner; asking again returns it. */
  owner: string;
  /** Pool name (default "default"). */
  pool?: string;
  /** false: share the pool's one non-isolated slice (LXD without security.idmap.isolated). Default true. */
  isolated?: boolean;
  /** IDs to map, a multiple of the pool's slice size, contiguous on the host. Default one slice. */
  size?: number;
  /** Sticky workload key: the same key gets the same host IDs again, on any host. */
  key?: string;
  /** Raw map entries (validated here; untrusted input is fine). */
  raw?: unknown;
}

export interface Lease {
  owner: string;
  pool: string;
  isolated: boolean;
  slot: number;
  slots: number;
  size: number;
  uidBase: number;
  gidBase: number;
  key: string | null;
  raw: RawIdmapEntry[];
  /** The final uid_map and gid_map lines, as the kernel will see them. */
  maps: IdMaps;
  createdAt: Date;
  /** false when the owner already held this lease (the call was a replay). */
  created: boolean;
}

export type SliceKind = 'isolated' | 'shared' | 'raw';
export type SliceState = 'active' | 'quarantined' | 'out_of_pool';

/** One host range held by someone: who holds which range. */
export interface Allocation {
  pool: string;
  /** null for the shared slice; see `sharedBy`. */
  owner: string | null;
  kind: SliceKind;
  state: SliceState;
  slot: number | null;
  slots: number | null;
  uid: IdRange | null;
  gid: IdRange | null;
  /** For raw grants: where the range appears inside the container. */
  nsUid: number | null;
  nsGid: number | null;
  key: string | null;
  sharedBy?: string[];
  createdAt: Date;
  releasedAt: Date | null;
}

export interface PoolStats {
  pool: string;
  sliceSize: number;
  /** Slots wholly inside the pool. */
  total: number;
  /** Slots leased to isolated containers. */
  active: number;
  /** The slot of the non-isolated shared slice (0 or 1). */
  shared: number;
  /** Released slots reserved for their sticky key. */
  keyed: number;
  /** Released slots still cooling down. */
  quarantined: number;
  /** Slots that can be handed out now. */
  free: number;
  /** Leased slots the pool shrank away from (kept until released). */
  outOfPool: number;
  /** Owners holding a lease. */
  leases: number;
}

export interface SyncReport {
  pool: string;
  added: number;
  removed: number;
  outOfPool: number;
  returned: number;
}
