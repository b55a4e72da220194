/**
 * Half-open ID ranges [start, end) over host or namespace IDs. Pure: no I/O.
 * IDs fit in 32 bits, so plain numbers are exact (they are safe up to 2^53).
 */

/** The highest valid ID plus one: 2^32 - 1 itself is the kernel's "no ID" (-1) and is never handed out. */
export const ID_LIMIT = 4294967295;

export interface IdRange {
  start: number;
  end: number;
}

/** Makes a range from a start and a count. */
export function rangeOf(start: number, count: number): IdRange {
  return { start, end: start + count };
}

/** Tells whether two ranges share at least one ID. */
export function overlaps(a: IdRange, b: IdRange): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Tells whether `outer` contains every ID of `inner`. */
export function contains(outer: IdRange, inner: IdRange): boolean {
  return outer.start <= inner.start && inner.end <= outer.end;
}

/** Sorts ranges and merges those that overlap or touch. */
export function mergeRanges(ranges: readonly IdRange[]): IdRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const merged: IdRange[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  return merged;
}

/** Tells whether some range of `ranges` contains all of `inner`. */
export function someContains(ranges: readonly IdRange[], inner: IdRange): boolean {
  return ranges.some((r) => contains(r, inner));
}

/** Renders ranges as Postgres int8multirange text, e.g. `{[1000000,2000000)}`. */
export function toMultirangeLiteral(ranges: readonly IdRange[]): string {
  return `{${ranges.map((r) => `[${r.start},${r.end})`).join(',')}}`;
}

/** Parses Postgres int8range/int8multirange text (`{[1,5),[7,9)}` or `[1,5)`) into ranges. */
export function parseRangeLiteral(text: string): IdRange[] {
  const out: IdRange[] = [];
  for (const m of text.matchAll(/([[(])(-?\d*),(-?\d*)([\])])/g)) {
    let start = Number(m[2]);
    let end = Number(m[3]);
    if (m[1] === '(') start += 1;
    if (m[4] === ']') end += 1;
    out.push({ start, end });
  }
  return out;
}

/** Tells whether a value is an integer ID in [0, ID_LIMIT]. */
export function isIdValue(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= ID_LIMIT;
}
