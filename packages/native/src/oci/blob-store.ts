// The blobs of imported images, kept beside the layers when the caller asks (importImage's
// keepBlobs): <store>/blobs/sha256/<hex>, each exactly the bytes its digest names (a layer as
// the archive carried it, compressed or not, a config, a manifest), so the image can be pushed
// to a registry with the digests it was imported with. A blob appears by one rename of a
// finished file; two imports writing the same blob write the same bytes, so either rename wins.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { NativeError } from '../errors';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

function blobsDir(store: string): string {
  return join(store, 'blobs', 'sha256');
}

/** The file of the blob with that digest (whether or not it is there). */
export function blobPath(store: string, digest: string): string {
  const hex = DIGEST.exec(digest)?.[1];
  if (!hex) throw new NativeError(`${JSON.stringify(digest)} is not a sha256 digest`, { code: 'INVALID_ARGUMENT' });
  return join(blobsDir(store), hex);
}

/** Writes bytes, or a byte range of a file, to a staging path, ready for commitBlob. */
export async function stageBlob(dest: string, source: Buffer | { path: string; offset: number; size: number }): Promise<void> {
  if (Buffer.isBuffer(source)) {
    await writeFile(dest, source, { flag: 'wx', mode: 0o600 });
    return;
  }
  const input =
    source.size === 0
      ? Readable.from([])
      : createReadStream(source.path, { start: source.offset, end: source.offset + source.size - 1, highWaterMark: 1024 * 1024 });
  await pipeline(input, createWriteStream(dest, { flags: 'wx', mode: 0o600 }));
}

/** Moves a staged blob into place. */
export async function commitBlob(store: string, digest: string, staged: string): Promise<void> {
  await mkdir(blobsDir(store), { recursive: true, mode: 0o700 });
  await rename(staged, blobPath(store, digest));
}

/** Removes one blob (the caller counts who uses it); false when it was not there. */
export async function removeBlob(store: string, digest: string): Promise<boolean> {
  try {
    await rm(blobPath(store, digest));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Lists the digests of the blobs in the store. */
export async function listBlobs(store: string): Promise<string[]> {
  const names = await readdir(blobsDir(store)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names
    .filter((name) => /^[a-f0-9]{64}$/.test(name))
    .sort()
    .map((hex) => `sha256:${hex}`);
}
