// The outer archive of an import (an OCI layout or a docker save, spooled to a file), read as a
// table of contents: each entry's name, type and where its data sits, so a blob is read by
// offset and only once. Layers are never parsed here: nagaya-extract does that.
import type { FileHandle } from 'node:fs/promises';

const BLOCK = 512;
/** Headers are read through a window this large: a tar of small files costs a read per window, not per entry. */
const WINDOW = 1024 * 1024;
/** A PAX or GNU long-name record is a few bytes of metadata; more is an attempt to make us buffer. */
const MAX_EXTENSION = 1024 * 1024;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  /** Normalised: no leading "./" or "/", no trailing "/". */
  name: string;
  type: TarEntryType;
  /** Where the data starts in the file. */
  offset: number;
  /** The file the data is in, when it is not the archive's: a layout directory read in place (importImageLayout). */
  path?: string;
  size: number;
  linkname: string;
}

/**
 * The entries an image archive's reader can need: those at most three names deep (blobs/sha256/<hex>,
 * <id>/layer.tar, index.json), the first MAX_KEPT of them, and the names of the top level. A
 * rootfs tarball of a million entries costs a bounded table, never one object per entry.
 */
export interface TarIndex {
  entries: TarEntry[];
  /** Top-level names: the first MAX_TOP_LEVEL, and every one of the notable names. */
  topLevel: Set<string>;
  /** Entries three names deep or less that were past MAX_KEPT and not kept. */
  dropped: number;
}

const MAX_KEPT = 65536;
const MAX_TOP_LEVEL = 4096;
const MAX_DEPTH_KEPT = 3;

/** Why a file is not a tar archive, or where it stops being one; index holds what was read before. */
export class NotTarError extends Error {
  index: TarIndex = { entries: [], topLevel: new Set(), dropped: 0 };
}

/** Reads a file by offset through a window, so consecutive small reads cost one syscall. */
class WindowedReader {
  private window = Buffer.alloc(0);
  private windowStart = 0;

  constructor(
    private readonly file: FileHandle,
    readonly length: number,
  ) {}

  async read(offset: number, size: number): Promise<Buffer> {
    if (offset + size > this.length) throw new NotTarError(`the archive ends inside an entry (at byte ${this.length})`);
    const end = this.windowStart + this.window.length;
    if (offset >= this.windowStart && offset + size <= end) {
      return this.window.subarray(offset - this.windowStart, offset - this.windowStart + size);
    }
    const want = Math.max(size, Math.min(WINDOW, this.length - offset));
    const buffer = Buffer.alloc(want);
    const { bytesRead } = await this.file.read(buffer, 0, want, offset);
    this.window = buffer.subarray(0, bytesRead);
    this.windowStart = offset;
    return this.window.subarray(0, size);
  }
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? length : nul).toString('utf8');
}

function number(block: Buffer, start: number, length: number): number {
  if (block[start] & 0x80) {
    let value = 0n;
    for (let i = start + 1; i < start + length; i++) value = (value << 8n) | BigInt(block[i]);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new NotTarError('a size field is too large');
    return Number(value);
  }
  const text = cString(block, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new NotTarError(`a numeric field holds "${text.slice(0, 20)}"`);
  return Number.parseInt(text, 8);
}

function checksumMatches(block: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  const text = cString(block, 148, 8).trim();
  if (!/^[0-7]+$/.test(text)) return false;
  const stored = Number.parseInt(text, 8);
  return stored === unsigned || stored === signed;
}

function paxValues(data: Buffer): Map<string, string> {
  const values = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = Number.parseInt(data.subarray(at, space).toString('ascii'), 10);
    if (space < 0 || !Number.isSafeInteger(length) || length <= 0 || at + length > data.length) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) values.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return values;
}

/** Drops "./" and "/" prefixes, "." components and a trailing "/": "./blobs/sha256/" is "blobs/sha256". */
export function normaliseName(name: string): string {
  return name
    .split('/')
    .filter((part) => part !== '' && part !== '.')
    .join('/');
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '5': 'directory',
};

/**
 * Indexes the tar file (see TarIndex): ustar (with its prefix), GNU long names and PAX headers.
 * Throws NotTarError when the first block is no tar header, or the archive breaks off later.
 */
export async function indexTar(file: FileHandle, length: number, notable: ReadonlySet<string>): Promise<TarIndex> {
  const index: TarIndex = { entries: [], topLevel: new Set(), dropped: 0 };
  const add = (entry: TarEntry) => {
    const parts = entry.name.split('/');
    if (parts[0] !== '' && (index.topLevel.size < MAX_TOP_LEVEL || notable.has(parts[0]))) index.topLevel.add(parts[0]);
    if (parts.length > MAX_DEPTH_KEPT) return;
    if (index.entries.length < MAX_KEPT) index.entries.push(entry);
    else index.dropped++;
  };
  try {
    await readEntries(new WindowedReader(file, length), length, add);
    return index;
  } catch (err) {
    if (err instanceof NotTarError) err.index = index;
    throw err;
  }
}

async function readEntries(reader: WindowedReader, length: number, add: (entry: TarEntry) => void): Promise<void> {
  let count = 0;
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax = new Map<string, string>();
  while (offset + BLOCK <= length) {
    const block = await reader.read(offset, BLOCK);
    if (block.every((b) => b === 0)) return;
    if (!checksumMatches(block)) {
      throw new NotTarError(offset === 0 ? 'its first block is not a tar header' : `the header at byte ${offset} is damaged`);
    }
    const typeflag = String.fromCharCode(block[156]);
    const extension = typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K';
    let size = number(block, 124, 12);
    if (!extension && pax.has('size')) size = Number(pax.get('size'));
    if (!Number.isSafeInteger(size) || size < 0) throw new NotTarError(`the header at byte ${offset} has a bad size`);
    const dataOffset = offset + BLOCK;
    const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    if (extension) {
      if (size > MAX_EXTENSION) throw new NotTarError(`an extension header at byte ${offset} is larger than ${MAX_EXTENSION} bytes`);
      const data = Buffer.from(await reader.read(dataOffset, size));
      if (typeflag === 'x') pax = paxValues(data);
      if (typeflag === 'L') longName = cString(data, 0, data.length);
      if (typeflag === 'K') longLink = cString(data, 0, data.length);
      offset = next;
      continue;
    }
    const magic = block.subarray(257, 263).toString('latin1');
    const prefix = magic === 'ustar\0' ? cString(block, 345, 155) : '';
    const rawName = pax.get('path') ?? longName ?? (prefix ? `${prefix}/${cString(block, 0, 100)}` : cString(block, 0, 100));
    const linkname = pax.get('linkpath') ?? longLink ?? cString(block, 157, 100);
    if (next > length) throw new NotTarError(`the archive ends inside ${rawName}`);
    add({ name: normaliseName(rawName), type: TYPES[typeflag] ?? 'other', offset: dataOffset, size, linkname });
    count++;
    pax = new Map();
    longName = undefined;
    longLink = undefined;
    offset = next;
  }
  if (count === 0) throw new NotTarError(length === 0 ? 'it is empty' : 'it is shorter than one tar header');
}

/** The file an entry's data is in: its own (a layout read in place), else the archive's. */
export function dataFile(entry: TarEntry, archive: string | undefined): string {
  const file = entry.path ?? archive;
  if (file === undefined) throw new Error(`${entry.name} has no file to be read from`);
  return file;
}
