// The upload of an import, decompressed (gzip or zstd, told by magic) and written to one file in
// the store's staging directory. A spool rather than a stream: neither an OCI layout nor a
// docker save orders its entries (docker save writes manifest.json last), so the manifest that
// says which blob is a layer may come after the layers; with the archive on disk each blob is
// read once, by offset, after the manifest and config are verified. The spool is bounded by
// maxBytes counted after decompression, the same bound as the upload itself, so a small gzip
// bomb cannot fill the store's disk, and it lives in the store, so an import writes nothing outside it.
import { createReadStream, createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { type Compression, compressionOf, decompress } from './decompress';
import { discard, HashingTap } from './hashing-tap';
import { peek } from '../peek-stream';

export interface SpooledArchive {
  path: string;
  /** How the upload came (gzip or zstd of the tar, or the tar). */
  compression: Compression;
  /** The tar after decompression (not hashed here: only a rootfs tarball needs its digest, see spoolDigest). */
  tarBytes: number;
  /** The first bytes of the tar, to name what was sent when it is none of the formats. */
  head: Buffer;
}

/** Writes input, decompressed, to path (a new file, 0600); more than maxBytes fails with PAYLOAD_TOO_LARGE. */
export async function spoolArchive(input: Readable, path: string, maxBytes: number): Promise<SpooledArchive> {
  const { head: uploadHead, stream } = await peek(input);
  const compression = compressionOf(uploadHead);
  const tar = new HashingTap(maxBytes, 'the archive (after decompression)', false);
  // pipe() forwards no error: an input that fails (an upload over its limit, a client gone) must
  // end the spool with its own error, not leave an unhandled one and a truncated archive
  let inputError: unknown;
  stream.on('error', (err) => {
    inputError ??= err;
    tar.destroy(err);
  });
  const unpacked = decompress(stream, compression, 'the upload');
  const written = pipeline(unpacked.output, tar, createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: 1024 * 1024 }));
  try {
    await Promise.all([written, unpacked.finished]);
  } catch (err) {
    unpacked.abort();
    stream.destroy();
    throw inputError ?? err;
  }
  return { path, compression, tarBytes: tar.bytes, head: tar.head };
}

/** The sha256 of the whole spooled tar: a rootfs tarball's diff_id (one more read, for that format only). */
export async function spoolDigest(spool: SpooledArchive): Promise<string> {
  const tap = new HashingTap(Number.MAX_SAFE_INTEGER, 'the archive');
  await pipeline(createReadStream(spool.path, { highWaterMark: 1024 * 1024 }), tap, discard());
  return tap.digest();
}
