// An import's spooled archive as named entries: JSON documents and blobs read by name or digest,
// each checked against its descriptor (size and sha256) before anything trusts it.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { posix } from 'node:path';

import { NativeError } from '../errors';
import type { Descriptor } from './image-model';
import type { TarEntry, TarIndex } from './tar-index';

/** An index, manifest or config is a few KiB; more is an attempt to make us buffer. */
const MAX_DOCUMENT = 4 * 1024 * 1024;
/** Symlinks followed inside the archive (docker save links a repeated layer.tar to the first). */
const MAX_LINKS = 8;

function invalid(message: string): NativeError {
  return new NativeError(message, { code: 'INVALID_INPUT' });
}

export class ArchiveContents {
  /** By normalised name; a later entry of the same name wins, as it would when unpacked. */
  readonly entries = new Map<string, TarEntry>();
  /** The names of the top level ("blobs" for "blobs/sha256/…"). */
  readonly topLevel: ReadonlySet<string>;
  /** Entries not kept (past the index's bound): an image archive that large is refused. */
  readonly dropped: number;

  constructor(
    /** The spooled archive, or undefined for a layout read in place (every entry then has its own path). */
    readonly file: FileHandle | undefined,
    index: TarIndex,
  ) {
    for (const entry of index.entries) if (entry.name !== '') this.entries.set(entry.name, entry);
    this.topLevel = index.topLevel;
    this.dropped = index.dropped;
  }

  /** The regular file named name, through symlinks and hard links that stay inside the archive. */
  fileEntry(name: string): TarEntry | undefined {
    let entry = this.entries.get(name);
    for (let i = 0; entry && i < MAX_LINKS; i++) {
      if (entry.type === 'file') return entry;
      if (entry.type === 'hardlink') entry = this.entries.get(posix.normalize(entry.linkname).replace(/^(\.\/|\/)+/, ''));
      else if (entry.type === 'symlink') {
        const target = posix.normalize(posix.join(posix.dirname(entry.name), entry.linkname));
        if (target.startsWith('..') || posix.isAbsolute(entry.linkname)) return undefined;
        entry = this.entries.get(target);
      } else return undefined;
    }
    return entry?.type === 'file' ? entry : undefined;
  }

  /** Whether the archive holds a regular file of that name. */
  has(name: string): boolean {
    return this.fileEntry(name) !== undefined;
  }

  async read(entry: TarEntry): Promise<Buffer> {
    const buffer = Buffer.alloc(entry.size);
    const file = entry.path === undefined ? this.file : await open(entry.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    if (!file) throw new Error(`${entry.name} has no file to be read from`);
    try {
      const { bytesRead } = await file.read(buffer, 0, entry.size, entry.offset);
      if (bytesRead !== entry.size) throw invalid(`${entry.name} is cut short`);
    } finally {
      if (file !== this.file) await file.close();
    }
    return buffer;
  }

  /** Reads a JSON document's bytes (an index, manifest or config), refusing one too large to be one. */
  async readDocument(entry: TarEntry, what: string): Promise<Buffer> {
    if (entry.size > MAX_DOCUMENT) throw invalid(`${entry.name} (${what}) is larger than ${MAX_DOCUMENT} bytes`);
    return this.read(entry);
  }

  /** Parses the JSON document named name (what: how errors name it). */
  async readJson(name: string, what: string): Promise<unknown> {
    const entry = this.fileEntry(name);
    if (!entry) throw invalid(`the archive has no ${name} (${what})`);
    return parseJson(await this.readDocument(entry, what), `${name} (${what})`);
  }

  /** The entry of an OCI layout blob, checked to have the descriptor's size (its digest is checked as it is read). */
  blobEntry(descriptor: Descriptor, what: string): TarEntry {
    const name = `blobs/sha256/${descriptor.digest.slice('sha256:'.length)}`;
    const entry = this.fileEntry(name);
    if (!entry) throw invalid(`the archive has no blob ${descriptor.digest} (${what}): ${name} is missing`);
    if (entry.size !== descriptor.size) {
      throw invalid(`blob ${descriptor.digest} (${what}) is ${entry.size} bytes, its descriptor says ${descriptor.size}`);
    }
    return entry;
  }

  /** Reads, verifies (size and sha256) and parses a JSON blob. */
  async readJsonBlob(descriptor: Descriptor, what: string): Promise<{ doc: unknown; bytes: Buffer }> {
    if (descriptor.size > MAX_DOCUMENT) throw invalid(`blob ${descriptor.digest} (${what}) is larger than ${MAX_DOCUMENT} bytes`);
    const bytes = await this.read(this.blobEntry(descriptor, what));
    checkBytes(bytes, descriptor.digest, what);
    return { doc: parseJson(bytes, `blob ${descriptor.digest} (${what})`), bytes };
  }
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Refuses bytes whose sha256 is not digest, naming the blob. */
export function checkBytes(bytes: Buffer, digest: string, what: string): void {
  const actual = sha256(bytes);
  if (actual !== digest) throw invalid(`blob ${digest} (${what}) does not match its digest: its content hashes to ${actual}`);
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid(`${what} is not JSON: ${(err as Error).message}`);
  }
}
