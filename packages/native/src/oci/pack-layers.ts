// The layers of a deferred import (importImage's deferUnpack): each blob is read once from the
// spool, hashed and, when the store has neither the layer nor this blob packed, copied into
// staging, so an import costs what a blob copy costs. The diff_id is checked later, when the
// layer unpacks (unpackPackedLayers). A layer the store already holds unpacked is still checked
// in full here, as an eager import checks it: an image must not get another image's layer by
// naming its diff_id beside a blob that is not that layer.
import { existsSync } from 'node:fs';
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';

import { NativeError } from '../errors';
import type { ExtractLimits } from '../extract-archive';
import { mapConcurrently } from './concurrency';
import { discard, HashingTap } from './hashing-tap';
import type { ImportedLayer, StagedLayers } from './import-image';
import { layerDir } from './layer-store';
import { commitPacked, packedPath } from './packed-layers';
import type { LayerSource } from './resolved-image';
import { dataFile } from './tar-index';
import { unpackLayer } from './unpack-layer';

/** Blobs read side by side: bound by the disk and sha256, two keep both busy. */
const PACK_CONCURRENCY = 2;
const READ_CHUNK = 1024 * 1024;

/**
 * Reads the layers' blobs from the archive (or their own files), verified by digest, and stages
 * those the store lacks. `blobsVerified`: the blobs are files of their own that were verified as
 * they were written (nagaya's own pull): they are moved into the store, not read again.
 */
export async function packLayers(
  store: string,
  staging: string,
  archive: string | undefined,
  sources: LayerSource[],
  limits: ExtractLimits,
  options: { blobsVerified?: boolean } = {},
): Promise<StagedLayers> {
  const plans = sources.map((layer, i) => {
    const what = `layer ${i + 1} of ${sources.length}`;
    // (a digest that was not declared is not known before the blob is read: such a layer is never taken for an earlier one)
    const earlier =
      layer.digestDeclared && sources.slice(0, i).some((l) => l.digestDeclared && l.diffId === layer.diffId && l.digest === layer.digest);
    if (!earlier && existsSync(layerDir(store, layer.diffId))) return { layer, what, check: 'unpacked' as const };
    const packed = earlier || (layer.digestDeclared && existsSync(packedPath(store, layer.diffId, layer.digest)));
    // a blob file of its own, verified when it was written: moved into the store as it is
    const movable = options.blobsVerified && layer.digestDeclared && layer.entry.path !== undefined && layer.entry.offset === 0;
    if (movable) return { layer, what, check: packed ? ('trusted' as const) : ('move' as const), dest: layer.entry.path! };
    return { layer, what, check: packed ? ('digest' as const) : ('copy' as const), dest: join(staging, `packed-${i}`) };
  });
  const layers = await mapConcurrently(plans, PACK_CONCURRENCY, async (p): Promise<ImportedLayer> => {
    const common = { mediaType: p.layer.mediaType, dir: layerDir(store, p.layer.diffId), unpacked: false };
    if (p.check === 'unpacked') {
      const checked = await unpackLayer(dataFile(p.layer.entry, archive), p.layer, { ociLayer: true }, limits, p.what);
      return {
        ...common,
        diffId: checked.diffId,
        digest: checked.digest,
        compressedSize: checked.compressedSize,
        size: checked.size,
        packed: false,
        checked: true,
      };
    }
    if (p.check === 'trusted' || p.check === 'move') {
      const size = p.layer.entry.size;
      return { ...common, diffId: p.layer.diffId, digest: p.layer.digest, compressedSize: size, size, packed: true, checked: false };
    }
    const read = await readBlob(dataFile(p.layer.entry, archive), p.layer, p.check === 'copy' ? p.dest : undefined, p.what);
    return {
      ...common,
      diffId: p.layer.diffId,
      digest: read.digest,
      compressedSize: read.bytes,
      size: read.bytes,
      packed: true,
      checked: false,
    };
  });
  return {
    layers,
    commit: async () => {
      for (const [i, p] of plans.entries()) {
        if (p.check === 'copy' || p.check === 'move') await commitPacked(store, p.layer.diffId, layers[i].digest, p.dest);
      }
    },
  };
}

/** Hashes a blob as it is read from the spool, writing it to dest when given; a declared digest must match. */
async function readBlob(
  spool: string,
  layer: LayerSource,
  dest: string | undefined,
  what: string,
): Promise<{ digest: string; bytes: number }> {
  const { offset, size } = layer.entry;
  const raw =
    size === 0 ? Readable.from([]) : createReadStream(spool, { start: offset, end: offset + size - 1, highWaterMark: READ_CHUNK });
  const tap = new HashingTap(Number.MAX_SAFE_INTEGER, what);
  const sink = dest ? createWriteStream(dest, { flags: 'wx', mode: 0o600, highWaterMark: READ_CHUNK }) : discard();
  await pipeline(raw, tap, sink);
  const digest = tap.digest();
  if (layer.digestDeclared && digest !== layer.digest) {
    throw new NativeError(`blob ${layer.digest} (${what}) does not match its digest: its content hashes to ${digest}`, {
      code: 'INVALID_INPUT',
    });
  }
  return { digest, bytes: tap.bytes };
}
