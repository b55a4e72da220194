import { ID_LIMIT, type IdRange } from './id-range';

/** The default slice: one container's worth of IDs, 0..65535 inside it. */
export const DEFAULT_SLICE_SIZE = 65536;

/** The slot grid of a pool: slot k covers [origin + k*sliceSize, origin + (k+1)*sliceSize). */
export interface SlotGrid {
  uidOrigin: number;
  gidOrigin: number;
  sliceSize: number;
}

/** Lists the slot indices whose block lies wholly inside `ranges` (and never on 0 or 2^32-1). */
function slotsInside(ranges: readonly IdRange[], origin: number, size: number): Set<number> {
  const out = new Set<number>();
  for (const r of ranges) {
    const start = Math.max(r.start, 1);
    const end = Math.min(r.end, ID_LIMIT);
    const first = Math.ceil((start - origin) / size);
    const last = Math.floor((end - origin) / size) - 1;
    for (let k = first; k <= last; k++) out.add(k);
  }
  return out;
}

/** Returns, sorted, the slots of `grid` whose uid block and gid block both lie inside the pool. */
export function validSlots(grid: SlotGrid, uidRanges: readonly IdRange[], gidRanges: readonly IdRange[]): number[] {
  const uid = slotsInside(uidRanges, grid.uidOrigin, grid.sliceSize);
  const gid = slotsInside(gidRanges, grid.gidOrigin, grid.sliceSize);
  return [...uid].filter((k) => gid.has(k)).sort((a, b) => a - b);
}

/** The host uid block of slot `k` (spanning `slots` slots). */
export function slotUidRange(grid: SlotGrid, k: number, slots = 1): IdRange {
  return { start: grid.uidOrigin + k * grid.sliceSize, end: grid.uidOrigin + (k + slots) * grid.sliceSize };
}

/** The host gid block of slot `k` (spanning `slots` slots). */
export function slotGidRange(grid: SlotGrid, k: number, slots = 1): IdRange {
  return { start: grid.gidOrigin + k * grid.sliceSize, end: grid.gidOrigin + (k + slots) * grid.sliceSize };
}
