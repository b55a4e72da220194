// The second half of a deferred import: unpacking the packed layers an image needs into the
// layer store, on the node that launches it, the first time it does. Each blob goes through the
// same path as an eager import's (unpackLayer: decompress, hash, nagaya-extract), so a blob that
// does not decompress to the diff_id its image claims is refused here, as the import would have
// refused it, and removed so that it is never tried again.
import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { NativeError } from '../errors';
import type { ExtractLimits } from '../extract-archive';
import { mapConcurrently } from './concurrency';
import { commitLayer, ensureLayerStore, layerDir, makeStagingDir } from './layer-store';
import { listPacked, type PackedLayer, removePacked } from './packed-layers';
import { unpackLayer } from './unpack-layer';

/** As an import: each layer has its own directory, so two unpack side by side. */
const UNPACK_CONCURRENCY = 2;

/** One layer unpackPackedLayers made sure of. */
export interface EnsuredLayer {
  diffId: string;
  /** <store>/layers/sha256/<hex>: the overlay lower. */
  dir: string;
  /** Uncompressed tar bytes when this call unpacked it; undefined when it was there already. */
  size?: number;
}

/**
 * Makes every layer of diffIds present in the store's layers, unpacking those that are only
 * packed. INVALID_INPUT when a layer's packed blobs all fail to unpack to its diff_id (the bad
 * blobs are removed), NOT_FOUND when a layer is neither unpacked nor packed here (the caller
 * fetches it from elsewhere). Safe against another process unpacking the same layer at once:
 * the first rename into place wins, and the loser uses the winner's copy.
 */
export async function unpackPackedLayers(store: string, diffIds: string[], limits: ExtractLimits): Promise<EnsuredLayer[]> {
  await ensureLayerStore(store);
  const distinct = [...new Set(diffIds)];
  const sizes = new Map<string, number | undefined>();
  await mapConcurrently(distinct, UNPACK_CONCURRENCY, async (diffId) => {
    sizes.set(diffId, await ensureLayer(store, diffId, limits));
  });
  return diffIds.map((diffId) => ({ diffId, dir: layerDir(store, diffId), size: sizes.get(diffId) }));
}

/** The layers of diffIds this store can give without fetching: unpacked, or packed to unpack. */
export async function layersAtHand(store: string, diffIds: string[]): Promise<boolean> {
  for (const diffId of new Set(diffIds)) {
    if (existsSync(layerDir(store, diffId))) continue;
    if ((await listPacked(store, diffId)).length === 0) return false;
  }
  return true;
}

async function ensureLayer(store: string, diffId: string, limits: ExtractLimits): Promise<number | undefined> {
  if (existsSync(layerDir(store, diffId))) return undefined;
  const candidates = await listPacked(store, diffId);
  if (candidates.length === 0) {
    throw new NativeError(`layer ${diffId} is neither unpacked nor packed in this store`, { code: 'NOT_FOUND' });
  }
  let refusal: unknown;
  for (const packed of candidates) {
    try {
      const size = await unpackOne(store, packed, limits);
      await removePacked(store, diffId);
      return size;
    } catch (err) {
      // another process unpacked it meanwhile (and removed the blob this one was reading)
      if (existsSync(layerDir(store, diffId))) return undefined;
      if (!(err instanceof NativeError) || (err.code !== 'INVALID_INPUT' && err.code !== 'PAYLOAD_TOO_LARGE')) throw err;
      await rm(packed.path, { force: true });
      refusal ??= err;
    }
  }
  throw refusal;
}

async function unpackOne(store: string, packed: PackedLayer, limits: ExtractLimits): Promise<number> {
  const size = (await stat(packed.path)).size;
  const staging = await makeStagingDir(store);
  try {
    const dest = join(staging, 'layer');
    const what = `layer ${packed.diffId}`;
    const entry = { name: '', type: 'file' as const, offset: 0, size, linkname: '' };
    const source = { digest: packed.digest, digestDeclared: true, mediaType: '', diffId: packed.diffId, entry };
    const unpacked = await unpackLayer(packed.path, source, { dest, ociLayer: true }, limits, what);
    await commitLayer(store, packed.diffId, dest);
    return unpacked.size;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
