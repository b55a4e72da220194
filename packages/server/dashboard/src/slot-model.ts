import type { AllocationView, HostRange, PoolView } from '@nagaya/contract';

/**
 * The slot picture of a pool: one cell per slot k (host uids [uidOrigin + k*sliceSize, +sliceSize)),
 * each with the state it is drawn in and the allocation behind it. Pure: no DOM here.
 */

export const CellState = {
  outside: 0,
  free: 1,
  active: 2,
  shared: 3,
  quarantined: 4,
  keyed: 5,
  raw: 6,
  outOfPool: 7,
} as const;
export type CellState = (typeof CellState)[keyof typeof CellState];

/** Legend order, labels and colours (the canvas and the legend use the same table). */
export const LEGEND: Array<{ state: CellState; label: string; color: string; hint: string }> = [
  { state: CellState.active, label: 'Active', color: '#2563eb', hint: 'held by a container' },
  { state: CellState.shared, label: 'Shared slice', color: '#9333ea', hint: 'the one slice non-isolated containers share' },
  { state: CellState.quarantined, label: 'Quarantined', color: '#f59e0b', hint: 'released, cooling down before reuse' },
  { state: CellState.keyed, label: 'Reserved for key', color: '#a16207', hint: 'released, kept for its sticky key' },
  { state: CellState.raw, label: 'Raw grant', color: '#059669', hint: 'host IDs given by a raw map entry' },
  { state: CellState.outOfPool, label: 'Out of pool', color: '#dc2626', hint: 'still leased, but the pool shrank away from it' },
  { state: CellState.free, label: 'Free', color: '#d8dde4', hint: 'can be handed out now' },
  { state: CellState.outside, label: 'Not in pool', color: '#f4f5f7', hint: "a gap between the pool's ranges" },
];

/** Which state wins when two allocations cover one slot (history rows under a reused slot). */
const RANK: Record<CellState, number> = { 0: 0, 1: 1, 6: 2, 4: 3, 5: 4, 7: 5, 3: 6, 2: 7 };

export interface SlotModel {
  pool: PoolView;
  /** Slot index of cell 0. */
  first: number;
  count: number;
  states: Uint8Array;
  /** Index into `allocations` of the allocation drawn in each cell, or -1. */
  owner: Int32Array;
  allocations: AllocationView[];
  /** Cells per state. */
  counts: Record<CellState, number>;
  /** Raw grants whose host IDs fall outside the drawn slots (listed beside the map). */
  rawOutside: AllocationView[];
}

const ID_LIMIT = 4294967295;
const MAX_CELLS = 1 << 22;

/** Slot interval [a, b] (inclusive) wholly inside each host range. */
function slotsInside(ranges: HostRange[], origin: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of ranges) {
    const start = Math.max(r.start, 1);
    const end = Math.min(r.start + r.count, ID_LIMIT);
    const a = Math.ceil((start - origin) / size);
    const b = Math.floor((end - origin) / size) - 1;
    if (b >= a) out.push([a, b]);
  }
  return out;
}

/** A released slice whose quarantine has run out is free again (unless it waits for its key). */
function stateOf(a: AllocationView, pool: PoolView, now: number): CellState {
  if (a.kind === 'raw') return CellState.raw;
  if (a.state === 'out_of_pool') return CellState.outOfPool;
  if (a.state === 'quarantined') {
    if (a.key) return CellState.keyed;
    const released = a.releasedAt ? Date.parse(a.releasedAt) : now;
    return released + pool.quarantineSeconds * 1000 > now ? CellState.quarantined : CellState.free;
  }
  return a.kind === 'shared' ? CellState.shared : CellState.active;
}

/** Builds the cells of `pool` from its allocations (GET /allocations?pool=…&history=true). */
export function buildSlotModel(pool: PoolView, allocations: AllocationView[], now = Date.now()): SlotModel {
  const size = pool.sliceSize;
  const uidSlots = slotsInside(pool.uid, pool.uidOrigin, size);
  const gidSlots = slotsInside(pool.gid, pool.gidOrigin, size);
  let lo = Infinity;
  let hi = -Infinity;
  for (const [a, b] of uidSlots) {
    lo = Math.min(lo, a);
    hi = Math.max(hi, b);
  }
  for (const a of allocations) {
    if (a.kind !== 'raw' && a.slot !== null) {
      lo = Math.min(lo, a.slot);
      hi = Math.max(hi, a.slot + (a.slots ?? 1) - 1);
    }
  }
  if (!Number.isFinite(lo)) {
    lo = 0;
    hi = -1;
  }
  const count = Math.min(hi - lo + 1, MAX_CELLS);
  const states = new Uint8Array(count);
  const owner = new Int32Array(count).fill(-1);
  const inGid = (k: number) => gidSlots.some(([a, b]) => k >= a && k <= b);
  for (const [a, b] of uidSlots) {
    for (let k = Math.max(a, lo); k <= b && k - lo < count; k++) if (inGid(k)) states[k - lo] = CellState.free;
  }
  const rawOutside: AllocationView[] = [];
  const put = (cell: number, state: CellState, index: number) => {
    if (cell < 0 || cell >= count) return false;
    if (RANK[state] >= RANK[states[cell] as CellState]) {
      states[cell] = state;
      owner[cell] = index;
    }
    return true;
  };
  allocations.forEach((a, index) => {
    const state = stateOf(a, pool, now);
    if (a.kind === 'raw') {
      const r = a.uid ?? a.gid;
      const origin = a.uid ? pool.uidOrigin : pool.gidOrigin;
      if (!r) return;
      const first = Math.floor((r.start - origin) / size) - lo;
      const last = Math.floor((r.start + r.count - 1 - origin) / size) - lo;
      let drawn = false;
      for (let cell = Math.max(first, 0); cell <= Math.min(last, count - 1); cell++) drawn = put(cell, state, index) || drawn;
      if (!drawn) rawOutside.push(a);
      return;
    }
    if (a.slot === null) return;
    for (let s = 0; s < (a.slots ?? 1); s++) put(a.slot + s - lo, state, index);
  });
  const counts = { 0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0 } as Record<CellState, number>;
  for (let i = 0; i < count; i++) counts[states[i] as CellState]++;
  return { pool, first: lo, count, states, owner, allocations, counts, rawOutside };
}

/** Host uid and gid ranges of a cell: the allocation's own, or the slot's block when none holds it. */
export function cellRanges(model: SlotModel, cell: number): { uid: HostRange; gid: HostRange } {
  const a = model.owner[cell]! >= 0 ? model.allocations[model.owner[cell]!]! : undefined;
  const k = model.first + cell;
  const size = model.pool.sliceSize;
  const slotUid = { start: model.pool.uidOrigin + k * size, count: size };
  const slotGid = { start: model.pool.gidOrigin + k * size, count: size };
  if (!a || a.kind === 'raw') return { uid: slotUid, gid: slotGid };
  return { uid: a.uid ?? slotUid, gid: a.gid ?? slotGid };
}
