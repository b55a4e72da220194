// Layers an import verified but did not unpack (importImage's deferUnpack): each is the blob as
// the archive carried it (gzip, zstd or plain), at <store>/packed/<diff_id hex>.<digest hex>.
// The digest was checked when the blob was written; the diff_id is only what the image's config
// claims, checked when unpackPackedLayers decompresses the blob. So a packed layer is named by
// both: an image that claims a popular diff_id for bytes that are not that layer gets a file of
// its own beside the true one, is refused when it unpacks, and never stands in for the true one.
// A packed layer appears by one rename of a finished file and goes once its layer is unpacked.
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';

import { NativeError } from '../errors';

const HEX = /^sha256:([a-f0-9]{64})$/;
const PACKED_NAME = /^([a-f0-9]{64})\.([a-f0-9]{64})$/;

/** One packed layer: its blob's file, the digest it was verified against, the diff_id its image claims. */
export interface PackedLayer {
  diffId: string;
  digest: string;
  path: string;
}

function hexOf(id: string, what: string): string {
  const hex = HEX.exec(id)?.[1];
  if (!hex) throw new NativeError(`${JSON.stringify(id)} is not a sha256 ${what}`, { code: 'INVALID_ARGUMENT' });
  return hex;
}

function packedDir(store: string): string {
  return join(store, 'packed');
}

/** The file of the packed layer that claims diffId with the blob of that digest (whether or not it is there). */
export function packedPath(store: string, diffId: string, digest: string): string {
  return join(packedDir(store), `${hexOf(diffId, 'diff id')}.${hexOf(digest, 'digest')}`);
}

/** Moves a staged, verified blob into place as a packed layer (two imports of one blob write the same bytes: either wins). */
export async function commitPacked(store: string, diffId: string, digest: string, staged: string): Promise<void> {
  await mkdir(packedDir(store), { recursive: true, mode: 0o700 });
  await rename(staged, packedPath(store, diffId, digest));
}

/** Every packed layer of the store, or those that claim one diff_id. */
export async function listPacked(store: string, diffId?: string): Promise<PackedLayer[]> {
  const prefix = diffId === undefined ? undefined : hexOf(diffId, 'diff id');
  const names = await readdir(packedDir(store)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names.sort().flatMap((name) => {
    const m = PACKED_NAME.exec(name);
    if (!m || (prefix !== undefined && m[1] !== prefix)) return [];
    return [{ diffId: `sha256:${m[1]}`, digest: `sha256:${m[2]}`, path: join(packedDir(store), name) }];
  });
}
