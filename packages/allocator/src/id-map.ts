import { AllocatorError } from './errors';
import { ID_LIMIT, isIdValue, overlaps, rangeOf, type IdRange } from './id-range';

/** The kernel's limit on lines in one uid_map or gid_map (since Linux 4.15). */
export const MAX_MAP_LINES = 340;

export type RawIdmapKind = 'uid' | 'gid' | 'both';

/** A raw map entry (LXD's raw.idmap): host IDs [hostId, hostId+count) appear as [nsId, nsId+count) inside. */
export interface RawIdmapEntry {
  kind: RawIdmapKind;
  hostId: number;
  nsId: number;
  count: number;
}

/** One line of /proc/<pid>/uid_map or gid_map. */
export interface MapLine {
  nsId: number;
  hostId: number;
  count: number;
}

export interface IdMaps {
  uid: MapLine[];
  gid: MapLine[];
}

const RAW_KINDS: readonly RawIdmapKind[] = ['uid', 'gid', 'both'];

/** Tells whether a raw entry maps uids (kind uid or both). */
export function mapsUids(e: RawIdmapEntry): boolean {
  return e.kind !== 'gid';
}

/** Tells whether a raw entry maps gids (kind gid or both). */
export function mapsGids(e: RawIdmapEntry): boolean {
  return e.kind !== 'uid';
}

/**
 * Validates raw entries from untrusted input: known kind, integer IDs, no host ID 0, nothing past
 * 2^32-1, and no two entries of one side overlapping in the namespace or on the host.
 */
export function validateRawEntries(input: unknown): RawIdmapEntry[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw new AllocatorError('INVALID_INPUT', 'idmap.raw must be an array');
  if (input.length > MAX_MAP_LINES) {
    throw new AllocatorError('INVALID_INPUT', `idmap.raw has more than ${MAX_MAP_LINES} entries`);
  }
  const entries = input.map((item: unknown, i): RawIdmapEntry => {
    const where = `idmap.raw[${i}]`;
    if (typeof item !== 'object' || item === null) throw new AllocatorError('INVALID_INPUT', `${where} must be an object`);
    const { kind, hostId, nsId, count } = item as Record<string, unknown>;
    if (!RAW_KINDS.includes(kind as RawIdmapKind)) {
      throw new AllocatorError('INVALID_INPUT', `${where}.kind must be one of uid, gid, both`, { index: i });
    }
    for (const [name, value] of [
      ['hostId', hostId],
      ['nsId', nsId],
      ['count', count],
    ] as const) {
      if (!isIdValue(value)) {
        throw new AllocatorError('INVALID_INPUT', `${where}.${name} must be an integer in [0, ${ID_LIMIT}]`, { index: i });
      }
    }
    const entry = { kind: kind as RawIdmapKind, hostId: hostId as number, nsId: nsId as number, count: count as number };
    if (entry.count < 1) throw new AllocatorError('INVALID_INPUT', `${where}.count must be at least 1`, { index: i });
    if (entry.hostId === 0) {
      throw new AllocatorError('INVALID_INPUT', `${where} maps host ID 0 (host root) into a container`, { index: i });
    }
    if (entry.hostId + entry.count > ID_LIMIT || entry.nsId + entry.count > ID_LIMIT) {
      throw new AllocatorError('INVALID_INPUT', `${where} reaches past ${ID_LIMIT} (2^32 - 1)`, { index: i });
    }
    return entry;
  });
  for (const side of [mapsUids, mapsGids]) {
    const mine = entries.filter(side);
    for (let a = 0; a < mine.length; a++) {
      for (let b = a + 1; b < mine.length; b++) {
        const x = mine[a]!;
        const y = mine[b]!;
        if (
          overlaps(rangeOf(x.nsId, x.count), rangeOf(y.nsId, y.count)) ||
          overlaps(rangeOf(x.hostId, x.count), rangeOf(y.hostId, y.count))
        ) {
          throw new AllocatorError('INVALID_INPUT', 'idmap.raw entries overlap each other', { entries: [x, y] });
        }
      }
    }
  }
  return entries;
}

/** Removes namespace IDs [cut.start, cut.end) from the lines, splitting a line that straddles it. */
function punch(lines: MapLine[], cut: IdRange): MapLine[] {
  const out: MapLine[] = [];
  for (const line of lines) {
    const end = line.nsId + line.count;
    if (!overlaps({ start: line.nsId, end }, cut)) {
      out.push(line);
      continue;
    }
    if (line.nsId < cut.start) out.push({ nsId: line.nsId, hostId: line.hostId, count: cut.start - line.nsId });
    if (end > cut.end) out.push({ nsId: cut.end, hostId: line.hostId + (cut.end - line.nsId), count: end - cut.end });
  }
  return out;
}

/** Builds one side's map: the slice from namespace ID 0, with raw entries punched in as LXD's AddSafe does. */
function buildSide(base: number, size: number, raw: readonly RawIdmapEntry[]): MapLine[] {
  let lines: MapLine[] = [{ nsId: 0, hostId: base, count: size }];
  for (const e of raw) {
    lines = punch(lines, rangeOf(e.nsId, e.count));
    lines.push({ nsId: e.nsId, hostId: e.hostId, count: e.count });
  }
  lines.sort((a, b) => a.nsId - b.nsId);
  if (lines.length > MAX_MAP_LINES) {
    throw new AllocatorError('INVALID_INPUT', `the map would have ${lines.length} lines; the kernel allows ${MAX_MAP_LINES}`);
  }
  return lines;
}

/** Builds the final uid_map and gid_map lines of a container from its slice and raw entries. */
export function buildIdMaps(slice: { uidBase: number; gidBase: number; size: number }, raw: readonly RawIdmapEntry[]): IdMaps {
  return {
    uid: buildSide(slice.uidBase, slice.size, raw.filter(mapsUids)),
    gid: buildSide(slice.gidBase, slice.size, raw.filter(mapsGids)),
  };
}

/** Renders map lines in the kernel's text format ("nsId hostId count" per line). */
export function formatMapLines(lines: readonly MapLine[]): string {
  return `${lines.map((l) => `${l.nsId} ${l.hostId} ${l.count}`).join('\n')}\n`;
}
