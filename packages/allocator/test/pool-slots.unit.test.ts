import { describe, expect, it } from 'vitest';
import { validSlots } from '@nagaya/allocator';

const grid = (uidOrigin: number, gidOrigin = uidOrigin) => ({ uidOrigin, gidOrigin, sliceSize: 65536 });

describe('validSlots at the exact edges', () => {
  it('a 65536-ID range from 100000 holds one slot ending at 165535; 165536 is outside', () => {
    expect(validSlots(grid(100000), [{ start: 100000, end: 165536 }], [{ start: 100000, end: 165536 }])).toEqual([0]);
    // one ID short of a slice: no slot at all
    expect(validSlots(grid(100000), [{ start: 100000, end: 165535 }], [{ start: 100000, end: 165536 }])).toEqual([]);
  });

  it('231071 is the last ID of slot 1; a range ending at 231071 holds only slot 0', () => {
    expect(validSlots(grid(100000), [{ start: 100000, end: 231072 }], [{ start: 100000, end: 231072 }])).toEqual([0, 1]);
    expect(validSlots(grid(100000), [{ start: 100000, end: 231071 }], [{ start: 100000, end: 231072 }])).toEqual([0]);
  });

  it('a pool ending at 2^32-1 uses its last slot, which never includes 2^32-1 itself', () => {
    const start = 4294967295 - 2 * 65536;
    expect(validSlots(grid(start), [{ start, end: 4294967295 }], [{ start, end: 4294967295 }])).toEqual([0, 1]);
    // even if handed a range past the limit, no slot reaches 2^32-1
    expect(validSlots(grid(start), [{ start, end: 4294967296 + 65536 }], [{ start, end: 4294967296 + 65536 }])).toEqual([0, 1]);
  });

  it('never yields a slot containing host ID 0', () => {
    expect(validSlots(grid(0), [{ start: 0, end: 3 * 65536 }], [{ start: 0, end: 3 * 65536 }])).toEqual([1, 2]);
  });

  it('uses a slot only where both its uid block and gid block are inside the pool', () => {
    expect(
      validSlots(grid(100000, 200000), [{ start: 100000, end: 100000 + 3 * 65536 }], [{ start: 200000, end: 200000 + 2 * 65536 }]),
    ).toEqual([0, 1]);
  });

  it('skips blocks that straddle a gap between merged ranges, and keeps the grid anchored at the origin', () => {
    const ranges = [
      { start: 100000, end: 165536 },
      { start: 165536 + 10, end: 100000 + 4 * 65536 },
    ];
    expect(validSlots(grid(100000), ranges, ranges)).toEqual([0, 2, 3]);
    // a range that moved below the origin yields negative slots on the same grid
    expect(validSlots(grid(100000 + 65536), [{ start: 100000, end: 231072 }], [{ start: 100000, end: 231072 }])).toEqual([-1, 0]);
  });
});
