import { describe, expect, it } from 'vitest';
import {
  contains,
  ID_LIMIT,
  isIdValue,
  mergeRanges,
  overlaps,
  parseRangeLiteral,
  rangeOf,
  someContains,
  toMultirangeLiteral,
} from '../src/id-range';
import { slotGidRange, slotUidRange } from '../src/pool-slots';

describe('half-open ID ranges', () => {
  it('makes [start, start+count)', () => {
    expect(rangeOf(100000, 65536)).toEqual({ start: 100000, end: 165536 });
  });

  it('calls ranges that only touch disjoint, and ranges sharing one ID overlapping', () => {
    expect(overlaps({ start: 100000, end: 165536 }, { start: 165536, end: 231072 })).toBe(false);
    expect(overlaps({ start: 100000, end: 165537 }, { start: 165536, end: 231072 })).toBe(true);
    expect(overlaps({ start: 165536, end: 231072 }, { start: 100000, end: 165537 })).toBe(true);
  });

  it('contains a range up to its last ID, and not one ID past it', () => {
    const outer = { start: 100000, end: 231072 };
    expect(contains(outer, { start: 165536, end: 231072 })).toBe(true);
    expect(contains(outer, { start: 165536, end: 231073 })).toBe(false);
    expect(contains(outer, { start: 99999, end: 100001 })).toBe(false);
    expect(someContains([{ start: 0, end: 10 }, outer], { start: 200000, end: 210000 })).toBe(true);
    expect(someContains([{ start: 0, end: 10 }, outer], { start: 5, end: 100005 })).toBe(false);
  });

  it('merges overlapping and touching ranges, in order, without changing its input', () => {
    const input = [
      { start: 300, end: 400 },
      { start: 100, end: 200 },
      { start: 200, end: 250 },
      { start: 240, end: 260 },
      { start: 401, end: 500 },
    ];
    const copy = structuredClone(input);
    expect(mergeRanges(input)).toEqual([
      { start: 100, end: 260 },
      { start: 300, end: 400 },
      { start: 401, end: 500 },
    ]);
    expect(input).toEqual(copy);
  });

  it('round-trips Postgres range text, normalising closed and open bounds to [start, end)', () => {
    const ranges = [
      { start: 1000000, end: 1065536 },
      { start: 2000000, end: 2000001 },
    ];
    expect(toMultirangeLiteral(ranges)).toBe('{[1000000,1065536),[2000000,2000001)}');
    expect(parseRangeLiteral(toMultirangeLiteral(ranges))).toEqual(ranges);
    expect(parseRangeLiteral('[5,10]')).toEqual([{ start: 5, end: 11 }]);
    expect(parseRangeLiteral('(4,10)')).toEqual([{ start: 5, end: 10 }]);
    expect(parseRangeLiteral('{}')).toEqual([]);
  });

  it('takes integer IDs from 0 to 2^32-1 as ID values', () => {
    expect(ID_LIMIT).toBe(2 ** 32 - 1);
    expect([0, 1, ID_LIMIT].every(isIdValue)).toBe(true);
    expect([-1, ID_LIMIT + 1, 1.5, '7', Number.NaN].some(isIdValue)).toBe(false);
  });
});

describe('slot blocks', () => {
  const grid = { uidOrigin: 100000, gidOrigin: 200000, sliceSize: 65536 };
  it('puts slot k at origin + k*size on each side, and a wide slice over several slots', () => {
    expect(slotUidRange(grid, 0)).toEqual({ start: 100000, end: 165536 });
    expect(slotUidRange(grid, 1)).toEqual({ start: 165536, end: 231072 });
    expect(slotGidRange(grid, 1)).toEqual({ start: 265536, end: 331072 });
    expect(slotUidRange(grid, 2, 3)).toEqual({ start: 231072, end: 100000 + 5 * 65536 });
  });
});
