import { describe, expect, it } from 'vitest';
import { cellAtPoint, mapLayout, selectionAfterKey } from '../dashboard/src/slot-map-layout';

describe("the ID-space map's layout", () => {
  it('fits cells to the width and ~560 px of height, between 3 and 36 px, with a gap from 6 px up', () => {
    expect(mapLayout(0, 100)).toEqual({ cellPx: 0, cols: 1, rows: 100, gap: 0 });
    // 8 slots in 800 px: as big as allowed
    expect(mapLayout(800, 8)).toEqual({ cellPx: 36, cols: 22, rows: 1, gap: 1 });
    // 15,258 slots (the e2e big pool) in 1000 px: sqrt(1000*560/15258) = 6.06 -> 6 px
    expect(mapLayout(1000, 15_258)).toEqual({ cellPx: 6, cols: 166, rows: 92, gap: 1 });
    // a million slots: never below 3 px, and no gap below 6
    expect(mapLayout(300, 1_000_000)).toEqual({ cellPx: 3, cols: 100, rows: 10_000, gap: 0 });
  });

  it('finds the cell under a point, and none left of, above, right of or past the last cell', () => {
    // 10 px cells, 10 to a row, 3 rows (mapLayout(1000, 5600) is 10 px cells too)
    expect(mapLayout(1000, 5600).cellPx).toBe(10);
    const layout = { cellPx: 10, cols: 10, rows: 3, gap: 1 };
    expect(cellAtPoint(0, 0, layout, 25)).toBe(0);
    expect(cellAtPoint(9.9, 9.9, layout, 25)).toBe(0);
    expect(cellAtPoint(10, 0, layout, 25)).toBe(1);
    expect(cellAtPoint(99, 10, layout, 25)).toBe(19);
    expect(cellAtPoint(40, 20, layout, 25)).toBe(24);
    expect(cellAtPoint(50, 20, layout, 25)).toBeNull();
    expect(cellAtPoint(-1, 0, layout, 25)).toBeNull();
    expect(cellAtPoint(0, -1, layout, 25)).toBeNull();
    expect(cellAtPoint(100, 0, layout, 25)).toBeNull();
  });

  it('moves the selection by cell, row and ten rows, and stops at the first and last slot', () => {
    expect(selectionAfterKey('ArrowRight', 5, 10, 25)).toBe(6);
    expect(selectionAfterKey('ArrowLeft', 0, 10, 25)).toBe(0);
    expect(selectionAfterKey('ArrowDown', 5, 10, 25)).toBe(15);
    expect(selectionAfterKey('ArrowDown', 20, 10, 25)).toBe(24);
    expect(selectionAfterKey('ArrowUp', 5, 10, 25)).toBe(0);
    expect(selectionAfterKey('PageDown', 0, 2, 25)).toBe(20);
    expect(selectionAfterKey('PageUp', 24, 2, 25)).toBe(4);
    expect(selectionAfterKey('Home', 17, 10, 25)).toBe(0);
    expect(selectionAfterKey('End', 3, 10, 25)).toBe(24);
    expect(selectionAfterKey('Enter', 3, 10, 25)).toBeNull();
    expect(selectionAfterKey('a', 3, 10, 25)).toBeNull();
  });
});
