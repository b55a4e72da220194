export { Allocator, DEFAULT_POOL, type AllocatorOptions } from './allocator';
export { leaseFromRow, type LeaseRow } from './allocator-rows';
export { ensureSystemPool, type SystemPoolOptions } from './system-pool';
export { AllocatorError, isAllocatorError, type AllocatorErrorCode } from './errors';
export { ID_LIMIT, mergeRanges, overlaps, rangeOf, type IdRange } from './id-range';
export {
  buildIdMaps,
  formatMapLines,
  MAX_MAP_LINES,
  validateRawEntries,
  type IdMaps,
  type MapLine,
  type RawIdmapEntry,
  type RawIdmapKind,
} from './id-map';
export { DEFAULT_SLICE_SIZE, validSlots, type SlotGrid } from './pool-slots';
export {
  FALLBACK_RANGE,
  loadSystemPoolRanges,
  parseSubidFile,
  rangesForUser,
  type LoadSubidOptions,
  type SubidEntry,
  type SystemPoolRanges,
} from './subid-file';
export type * from './types';
export { checkout, runStatement, runTransaction } from './pg-session';
export { SqlState, sqlStateOf } from './pg-errors';
