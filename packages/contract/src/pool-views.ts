// What /pools and /allocations return: the ID pools, their slot counts and who holds which range.

/** A range of host IDs, [start, start+count). */
export interface HostRange {
  start: number;
  count: number;
}

/** Slot counts of a pool. */
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

/** GET /pools/:name. */
export interface PoolView {
  name: string;
  source: string;
  uid: HostRange[];
  gid: HostRange[];
  uidOrigin: number;
  gidOrigin: number;
  sliceSize: number;
  quarantineSeconds: number;
  rawAllowed: { uid: HostRange[]; gid: HostRange[] };
  slices: PoolStats;
}

/** One entry of GET /allocations: who holds which host range. */
export interface AllocationView {
  pool: string;
  /** The owning container's project (null: no owner, or the shared slice of several projects). */
  project: string | null;
  kind: 'isolated' | 'shared' | 'raw';
  state: 'active' | 'quarantined' | 'out_of_pool';
  /** The owning container's id. */
  owner: string | null;
  /** The owning container's name. */
  container: string | null;
  sharedBy?: string[];
  slot: number | null;
  slots: number | null;
  uid: HostRange | null;
  gid: HostRange | null;
  nsUid: number | null;
  nsGid: number | null;
  key: string | null;
  createdAt: string;
  releasedAt: string | null;
}
