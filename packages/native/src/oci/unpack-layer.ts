// One layer blob of the spool, read once: hashed as it is read (the blob's digest), decompressed
// by its magic (gzip, zstd or none), hashed again (the diff_id) and fed to nagaya-extract, or,
// for a layer the store already holds, only hashed, so a mismatch is refused either way.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { NativeError } from '../errors';
import { type ExtractLimits, type ExtractResult, extractArchive } from '../extract-archive';
import { type Compression, compressionOf, decompress } from './decompress';
import { discard, HashingTap } from './hashing-tap';
import type { LayerSource } from './resolved-image';

const READ_CHUNK = 1024 * 1024;

export interface UnpackedLayer {
  /** The blob's sha256 as read. */
  digest: string;
  /** The uncompressed tar's sha256 as read. */
  diffId: string;
  compression: Compression;
  compressedSize: number;
  /** Uncompressed tar bytes. */
  size: number;
  /** What the extractor wrote; undefined when the layer was only verified. */
  extracted?: ExtractResult;
}

export interface UnpackTarget {
  /** A directory to unpack into (made by the extractor), or undefined to verify only. */
  dest?: string;
  /** Unpack as an OCI layer (whiteouts), or as a plain rootfs tarball. */
  ociLayer: boolean;
}

function invalid(message: string): NativeError {
  return new NativeError(message, { code: 'INVALID_INPUT' });
}

/** Reads the layer's blob from the spool, verifies it and unpacks it (see UnpackTarget). `what` names it in errors. */
export async function unpackLayer(
  spool: string,
  layer: LayerSource,
  target: UnpackTarget,
  limits: ExtractLimits,
  what: string,
): Promise<UnpackedLayer> {
  const { offset, size } = layer.entry;
  const compression = compressionOf(await readHead(spool, offset, Math.min(4, size)));
  const raw =
    size === 0 ? Readable.from([]) : createReadStream(spool, { start: offset, end: offset + size - 1, highWaterMark: READ_CHUNK });
  const blobTap = new HashingTap(Number.MAX_SAFE_INTEGER, what);
  raw.on('error', (err: Error) => blobTap.destroy(err));
  const decompressed = decompress(raw.pipe(blobTap), compression, what);
  const tarTap = new HashingTap(limits.maxBytes, `${what} (decompressed)`);
  decompressed.output.on('error', (err) => tarTap.destroy(err));
  decompressed.output.pipe(tarTap);

  let extracted: ExtractResult | undefined;
  try {
    if (target.dest) extracted = await extractArchive(tarTap, target.dest, limits, { ociLayer: target.ociLayer });
    else await pipeline(tarTap, discard());
    await decompressed.finished;
  } catch (err) {
    decompressed.abort();
    // Bad gzip or zstd is the cause of whatever the extractor then said about a cut-short tar.
    const cause = await decompressed.finished.then(
      () => undefined,
      (e: unknown) => e,
    );
    throw cause instanceof NativeError && cause.code === 'INVALID_INPUT' ? cause : err;
  }

  const digest = blobTap.digest();
  if (layer.digestDeclared && digest !== layer.digest) {
    throw invalid(`blob ${layer.digest} (${what}) does not match its digest: its content hashes to ${digest}`);
  }
  const diffId = tarTap.digest();
  if (diffId !== layer.diffId) {
    throw invalid(
      `${what} (blob ${digest}): its uncompressed content hashes to ${diffId}, not the diff_id ${layer.diffId} the config lists`,
    );
  }
  return { digest, diffId, compression, compressedSize: blobTap.bytes, size: tarTap.bytes, extracted };
}

async function readHead(path: string, offset: number, length: number): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(length);
    await file.read(head, 0, length, offset);
    return head;
  } finally {
    await file.close();
  }
}
