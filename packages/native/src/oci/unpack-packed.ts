// The second half of a deferred import: checking an image's packed layer blobs against their
// diff_ids, on the node that launches it, the first time it does, and unpacking the layers the
// store lacks. Each blob goes through the same path as an eager import's (unpackLayer:
// decompress, hash, nagaya-extract), and only an image's own blobs are read (named by the pair
// of its diff_id and blob digest): a blob another image packed under the same diff_id is never
// taken for this image's, nor this image's for another's.
import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { NativeError } from '../errors';
import type { ExtractLimits } from '../extract-archive';
import { mapConcurrently } from './concurrency';
import { commitLayer, ensureLayerStore, layerDir, makeStagingDir } from './layer-store';
import { packedPath } from './packed-layers';
import { unpackLayer } from './unpack-layer';

/** As an import: each layer has its own directory, so two unpack side by side. */
const UNPACK_CONCURRENCY = 2;

/** One layer of an image: its diff_id and the digest of the blob it came as. */
export interface LayerBlob {
  diffId: string;
  digest: string;
}

/** What unpackPackedLayers did with one layer blob. */
export interface CheckedLayer extends LayerBlob {
  /** <store>/layers/sha256/<hex>: the overlay lower (there when present is true). */
  dir: string;
  /** The layer directory is there. */
  present: boolean;
  /** This call read the packed blob and it decompressed to its diff_id (it is gone now). */
  checked: boolean;
  /** Uncompressed tar bytes, when this call unpacked the layer. */
  size?: number;
  /** Why the blob was refused (INVALID_INPUT or PAYLOAD_TOO_LARGE): it is not its diff_id, or not a layer the extractor takes. It is gone. */
  refusal?: NativeError;
}

/**
 * For each layer blob the store holds packed: checks that it decompresses to its diff_id,
 * unpacking it when the layer directory is missing (only hashing it when the directory is there),
 * then removes the blob. Layers with no packed blob here are left as they are (present or not):
 * the caller knows whether their pair was checked elsewhere, and fetches what is missing. A blob
 * that is not its diff_id (or that the extractor refuses) is removed and comes back with its
 * refusal. Safe against another process doing the same at once.
 */
export async function unpackPackedLayers(store: string, blobs: LayerBlob[], limits: ExtractLimits): Promise<CheckedLayer[]> {
  await ensureLayerStore(store);
  const distinct = [...new Map(blobs.map((b) => [`${b.diffId}.${b.digest}`, b])).values()];
  const done = new Map<string, { checked: boolean; size?: number; refusal?: NativeError }>();
  await mapConcurrently(distinct, UNPACK_CONCURRENCY, async (blob) => {
    done.set(`${blob.diffId}.${blob.digest}`, await checkOne(store, blob, limits));
  });
  return blobs.map((b) => ({
    ...b,
    dir: layerDir(store, b.diffId),
    present: existsSync(layerDir(store, b.diffId)),
    ...done.get(`${b.diffId}.${b.digest}`)!,
  }));
}

/** Whether the store holds this layer blob packed. */
export function isPacked(store: string, blob: LayerBlob): boolean {
  return existsSync(packedPath(store, blob.diffId, blob.digest));
}

async function checkOne(
  store: string,
  blob: LayerBlob,
  limits: ExtractLimits,
): Promise<{ checked: boolean; size?: number; refusal?: NativeError }> {
  const path = packedPath(store, blob.diffId, blob.digest);
  const size = await stat(path).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined) return { checked: false };
  const staging = await makeStagingDir(store);
  try {
    const unpack = !existsSync(layerDir(store, blob.diffId));
    const dest = unpack ? join(staging, 'layer') : undefined;
    const entry = { name: '', type: 'file' as const, offset: 0, size, linkname: '' };
    const source = { ...blob, digestDeclared: true, mediaType: '', entry };
    const unpacked = await unpackLayer(path, source, { dest, ociLayer: true }, limits, `layer ${blob.diffId}`);
    if (dest) await commitLayer(store, blob.diffId, dest);
    await rm(path, { force: true });
    return { checked: true, ...(dest ? { size: unpacked.size } : {}) };
  } catch (err) {
    if (err instanceof NativeError && (err.code === 'INVALID_INPUT' || err.code === 'PAYLOAD_TOO_LARGE')) {
      await rm(path, { force: true });
      return { checked: false, refusal: err };
    }
    // gone meanwhile: another process checked it (and recorded what it found)
    if (!existsSync(path)) return { checked: false };
    throw err;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
