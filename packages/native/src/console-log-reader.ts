// Reads a container's console log by lines, with the time the launcher recorded for each
// (console.log.idx; its layout is documented in src/launcher/console_index.h).
import { type FileHandle, open } from 'node:fs/promises';

const MAGIC = 'NGYLIDX1';
const HEADER_BYTES = 48;
const RECORD_BYTES = 16;
/** The launcher splits a line with no newline after this many bytes (CONSOLE_INDEX_MAX_LINE). */
export const CONSOLE_MAX_LINE_BYTES = 16384;

/** One line of a console log: absolute offsets count every byte the container ever wrote. */
export interface ConsoleLine {
  /** Absolute offset of its first byte. */
  start: number;
  /** Absolute offset just after it: where a reader that wants what follows starts. */
  end: number;
  /** When the launcher first saw it (ns since the epoch), or null if it has not looked yet. */
  timeNs: bigint | null;
  /** Its bytes, the newline included when it has one. */
  data: Buffer;
}

export interface ConsoleRead {
  lines: ConsoleLine[];
  /** Where to read on from: after the last line returned or skipped. */
  next: number;
  /** Absolute offset of the oldest byte still kept (console.log.1's first). */
  oldest: number;
  /** Absolute offset just after the last byte read: beyond `next` are bytes not returned yet. */
  end: number;
  /** Bytes were left out: older than the kept files, beyond maxBytes, or a line cut in half. */
  truncated: boolean;
}

export interface ConsoleReadOptions {
  /** Absolute offset of a line start to read from (a `next` or a line's `end`); default: the tail. */
  from?: number;
  /** Only the last this many lines. */
  tailLines?: number;
  /** Only lines seen at or after this time (ns since the epoch). */
  sinceNs?: bigint;
  /** At most this many bytes are read (from `from` forward, or back from the newest byte). Default 1 MiB. */
  maxBytes?: number;
  /** Stop before a line the launcher has not dated yet (a follower waits for it); default false. */
  stopAtUndated?: boolean;
  /** Return a last line that has no newline yet; default true. */
  partialLastLine?: boolean;
}

interface IndexHeader {
  base: number;
  indexedTo: number;
}

interface IndexRecord {
  offset: number;
  timeNs: bigint;
}

/** Reads lines of the console log at logPath (with console.log.1 before it and console.log.idx beside it). */
export async function readConsoleLog(logPath: string, options: ConsoleReadOptions = {}): Promise<ConsoleRead> {
  // The launcher may rotate between our reads: read the header again after the bytes, and start
  // over if base moved.
  for (let attempt = 0; ; attempt++) {
    const index = await openOrNull(`${logPath}.idx`);
    const older = await openOrNull(`${logPath}.1`);
    const newest = await openOrNull(logPath);
    try {
      const header = index ? await readHeader(index) : null;
      const base = header?.base ?? 0;
      const newestSize = newest ? (await newest.stat()).size : 0;
      const olderSize = older && header ? (await older.stat()).size : 0;
      const oldest = Math.max(0, base - olderSize);
      const end = base + newestSize;
      const maxBytes = options.maxBytes ?? 1024 * 1024;
      let start: number;
      let last: number;
      let truncated = false;
      if (options.from !== undefined) {
        start = Math.max(options.from, oldest);
        truncated = options.from < oldest;
        last = Math.min(end, start + maxBytes);
      } else {
        start = Math.max(oldest, end - maxBytes);
        truncated = start > oldest;
        last = end;
      }
      const bytes = Buffer.alloc(Math.max(0, last - start));
      if (older && start < base) await readFully(older, bytes, 0, Math.min(base, last) - start, start - oldest);
      if (newest && last > base) {
        const from = Math.max(start, base);
        await readFully(newest, bytes, from - start, last - from, from - base);
      }
      const records = index ? await recordsIn(index, start, last) : [];
      // a rotation rewrites the index under a new inode: look at the path again, not at our fd
      const reopened = await openOrNull(`${logPath}.idx`);
      const again = reopened ? await readHeader(reopened).finally(() => reopened.close()) : null;
      if ((again?.base ?? 0) !== base && attempt < 3) continue;
      return splitLines(bytes, start, records, header?.indexedTo ?? 0, {
        ...options,
        truncated,
        end: last,
        oldest,
        // a resume position is a line start; so is a byte the launcher dated; the first kept byte after a rotation rarely is
        startIsLine: (options.from !== undefined && options.from >= oldest) || start === 0 || records.some((x) => x.offset === start),
      });
    } finally {
      await Promise.all([index?.close(), older?.close(), newest?.close()]);
    }
  }
}

function splitLines(
  bytes: Buffer,
  start: number,
  records: IndexRecord[],
  indexedTo: number,
  options: ConsoleReadOptions & { truncated: boolean; oldest: number; end: number; startIsLine: boolean },
): ConsoleRead {
  const lines: ConsoleLine[] = [];
  let truncated = options.truncated;
  let r = 0; // records[r] is the next record at or after `at`
  let dated: bigint | null = null; // time of the last record at or before the line start
  const recordStarts = new Set(records.map((x) => x.offset));
  let at = 0;
  // A window that starts inside a line (a tail cut by maxBytes) drops that part line.
  if (!options.startIsLine && !recordStarts.has(start) && bytes.length > 0) {
    const newline = bytes.indexOf(0x0a);
    at = newline === -1 ? bytes.length : newline + 1;
    truncated = true;
  }
  let next = start + at;
  while (at < bytes.length) {
    const lineStart = start + at;
    while (r < records.length && records[r]!.offset <= lineStart) dated = records[r++]!.timeNs;
    // the line ends after its newline, at the next record (a long line split), or at the end
    const nextRecord = r < records.length ? records[r]!.offset - start : bytes.length;
    const newline = bytes.indexOf(0x0a, at);
    let stop = Math.min(newline === -1 ? bytes.length : newline + 1, nextRecord, at + CONSOLE_MAX_LINE_BYTES);
    if (stop <= at) stop = at + 1;
    const complete = newline !== -1 && newline < stop;
    const timeNs = lineStart < indexedTo ? dated : null;
    if (timeNs === null && options.stopAtUndated) break;
    if (!complete && stop === bytes.length && options.partialLastLine === false && stop - at < CONSOLE_MAX_LINE_BYTES) break;
    const line = { start: lineStart, end: start + stop, timeNs, data: bytes.subarray(at, stop) };
    at = stop;
    next = line.end;
    if (options.sinceNs !== undefined && timeNs !== null && timeNs < options.sinceNs) continue;
    lines.push(line);
  }
  const tailed = options.tailLines !== undefined && lines.length > options.tailLines ? lines.slice(-options.tailLines) : lines;
  return { lines: tailed, next, oldest: options.oldest, end: options.end, truncated: truncated || tailed.length < lines.length };
}

async function openOrNull(path: string): Promise<FileHandle | null> {
  try {
    return await open(path, 'r');
  } catch {
    return null;
  }
}

async function readHeader(file: FileHandle): Promise<IndexHeader | null> {
  const buf = Buffer.alloc(HEADER_BYTES);
  const { bytesRead } = await file.read(buf, 0, HEADER_BYTES, 0);
  if (bytesRead < HEADER_BYTES || buf.toString('latin1', 0, 8) !== MAGIC) return null;
  return { base: Number(buf.readBigUInt64LE(8)), indexedTo: Number(buf.readBigUInt64LE(16)) };
}

async function readFully(file: FileHandle, into: Buffer, offset: number, length: number, position: number): Promise<void> {
  while (length > 0) {
    const { bytesRead } = await file.read(into, offset, length, position);
    if (bytesRead === 0) {
      into.fill(0, offset, offset + length); // shrank under us (rotated): the retry rereads it
      return;
    }
    offset += bytesRead;
    position += bytesRead;
    length -= bytesRead;
  }
}

/** The records that date [from, to): the last one at or before `from`, then every one before `to`. */
async function recordsIn(file: FileHandle, from: number, to: number): Promise<IndexRecord[]> {
  const count = Math.floor(((await file.stat()).size - HEADER_BYTES) / RECORD_BYTES);
  const one = Buffer.alloc(RECORD_BYTES);
  const offsetAt = async (i: number): Promise<number> => {
    await file.read(one, 0, RECORD_BYTES, HEADER_BYTES + i * RECORD_BYTES);
    return Number(one.readBigUInt64LE(0));
  };
  // binary search: the first record past `from`, then step back one
  let low = 0;
  let high = count;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((await offsetAt(mid)) <= from) low = mid + 1;
    else high = mid;
  }
  const first = Math.max(0, low - 1);
  const records: IndexRecord[] = [];
  const chunk = Buffer.alloc(RECORD_BYTES * 4096);
  for (let i = first; i < count; ) {
    const want = Math.min(4096, count - i);
    const { bytesRead } = await file.read(chunk, 0, want * RECORD_BYTES, HEADER_BYTES + i * RECORD_BYTES);
    const got = Math.floor(bytesRead / RECORD_BYTES);
    if (got === 0) break;
    for (let j = 0; j < got; j++) {
      const offset = Number(chunk.readBigUInt64LE(j * RECORD_BYTES));
      if (offset >= to) return records;
      records.push({ offset, timeNs: chunk.readBigInt64LE(j * RECORD_BYTES + 8) });
    }
    i += got;
  }
  return records;
}

/** RFC 3339 with nanoseconds, in UTC: 2026-12-07T15:04:05.123456789Z. */
export function rfc3339Nano(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}
