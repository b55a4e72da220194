// Importing an image archive into a node's layer store: spool the upload, tell its format,
// resolve the manifest for this node, then verify and unpack each layer into staging and move
// the new ones into place only when every digest has matched, so a refused archive leaves
// nothing behind. Layers the store already holds are verified, not unpacked again.
import { existsSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

import { NativeError } from '../errors';
import type { ExtractLimits } from '../extract-archive';
import { ArchiveContents, sha256 } from './archive-contents';
import { commitBlob, stageBlob } from './blob-store';
import { detectFormat, IMAGE_MARKERS } from './archive-format';
import { describeMagic } from './decompress';
import { type ImageConfig, MEDIA_TYPES, nodePlatform, type Platform } from './image-model';
import { commitLayer, ensureLayerStore, layerDir, makeStagingDir, removeStaleStaging } from './layer-store';
import { resolveDockerSave } from './resolve-docker-save';
import { resolveOciLayout } from './resolve-oci';
import { type ImageFormat, type ResolvedImage, syntheticManifest } from './resolved-image';
import { type SpooledArchive, spoolArchive, spoolDigest } from './spool';
import { dataFile, indexTar, NotTarError, type TarEntry, type TarIndex } from './tar-index';
import { unpackLayer } from './unpack-layer';
import { mapConcurrently } from './concurrency';
import { packLayers } from './pack-layers';

/**
 * Layers unpacked at once. Unpacking is bound by creating files (about 0.3 ms an entry here), not
 * by gunzip or hashing, and each layer has its own directory, so two side by side nearly halve
 * an import of many small files; more only queue on the same disk and cores.
 */
const UNPACK_CONCURRENCY = 2;

/** Layers of one image: Docker's own limit is 127; more is a way to make a mount fail late. */
export const DEFAULT_MAX_LAYERS = 128;

export interface ImportOptions {
  /** The archive's bytes after decompression: the upload limit (the spool is bounded by it). */
  maxArchiveBytes: number;
  /** The limits of unpacking each layer (maxBytes counts its decompressed tar). */
  layerLimits: ExtractLimits;
  /** Layers of one image (DEFAULT_MAX_LAYERS). */
  maxLayers?: number;
  /** The platform to pick from an index (this node's by default: linux and process.arch). */
  platform?: Platform;
  /**
   * Also keep the image's blobs (layers as the archive carried them, config, manifest) under
   * <store>/blobs/sha256, to push it to a registry with its own digests. Default false.
   */
  keepBlobs?: boolean;
  /**
   * Verify each layer blob's digest and keep it packed (as the archive carried it) instead of
   * unpacking it: unpackPackedLayers unpacks it, checking its diff_id, when the image first
   * launches here. An import then costs what a blob copy costs. A rootfs tarball always unpacks.
   */
  deferUnpack?: boolean;
}

/** One layer of an imported image. */
export interface ImportedLayer {
  /** sha256 of the uncompressed tar: the layer's name in the store. */
  diffId: string;
  /** sha256 of the blob as it was in the archive. */
  digest: string;
  mediaType: string;
  compressedSize: number;
  /** Uncompressed tar bytes; for a deferred import, the blob's bytes (what the store holds until it unpacks). */
  size: number;
  /** <store>/layers/sha256/<hex>: an overlay lower, owned 0..65535 as the tar says (once unpacked). */
  dir: string;
  /** False when the store already held it (it was verified, not unpacked again), or when it was packed. */
  unpacked: boolean;
  /** True when a deferred import kept it packed; false when it is unpacked in dir. */
  packed: boolean;
  /** This import checked the blob against its diff_id (decompressed and hashed it); false for a packed layer. */
  checked: boolean;
}

/** What importImage returns: everything the server records for the image. */
export interface ImportedImage {
  format: ImageFormat;
  manifestDigest: string;
  configDigest: string;
  config: ImageConfig;
  /** Bottom first: the last is the top lower. */
  layers: ImportedLayer[];
  /** Bytes of all layers: uncompressed, or for a deferred import as the blobs hold them. */
  totalSize: number;
  /** The manifest and config exactly as verified (made up for a docker save or a rootfs: see syntheticManifest). */
  manifestJson: string;
  configJson: string;
}

function invalid(message: string): NativeError {
  return new NativeError(message, { code: 'INVALID_INPUT' });
}

/**
 * Imports an image archive (OCI layout, docker save legacy or ≥ 25, or a rootfs tarball; tar,
 * gzip or zstd) from input into the layer store at store. Errors are NativeErrors:
 * INVALID_INPUT (not an image archive, no image for this platform, a digest or diff_id
 * mismatch, a hostile layer), PAYLOAD_TOO_LARGE (a limit); an error of input itself is rethrown.
 * A failed import leaves nothing in the store.
 */
export async function importImage(input: Readable, store: string, options: ImportOptions): Promise<ImportedImage> {
  return importResolved(store, options, async (staging) => {
    const spool = await spoolArchive(input, join(staging, 'archive.tar'), options.maxArchiveBytes);
    return { resolved: await resolveArchive(spool, options.platform ?? nodePlatform()), archive: spool.path };
  });
}

/** What every import takes beside its source (importImage's options but the archive bound; see importImageLayout for blobsVerified). */
export type ImportSettings = Omit<ImportOptions, 'maxArchiveBytes'> & { blobsVerified?: boolean };

/**
 * What every import does once `read` has resolved its source (in a staging directory of its
 * own, removed at the end whatever happens): the bound on layers, the layers packed or unpacked
 * into staging, then the manifest, the kept blobs and the commit. `archive` is the file that
 * entries without a path of their own are in.
 */
export async function importResolved(
  store: string,
  options: ImportSettings,
  read: (staging: string) => Promise<{ resolved: ResolvedImage; archive: string | undefined }>,
): Promise<ImportedImage> {
  await ensureLayerStore(store);
  await removeStaleStaging(store);
  const staging = await makeStagingDir(store);
  try {
    const { resolved, archive } = await read(staging);
    const maxLayers = options.maxLayers ?? DEFAULT_MAX_LAYERS;
    if (resolved.layers.length > maxLayers) {
      throw new NativeError(`the image has ${resolved.layers.length} layers, more than ${maxLayers}`, { code: 'PAYLOAD_TOO_LARGE' });
    }
    // a rootfs tarball's one layer is the spool itself: nothing to gain by packing it
    const staged =
      options.deferUnpack && resolved.format !== 'rootfs'
        ? await packLayers(store, staging, archive, resolved.layers, options.layerLimits, { blobsVerified: options.blobsVerified })
        : await unpackLayers(store, staging, archive, resolved, options.layerLimits);
    return await finishImport(store, staging, archive, resolved, staged, options.keepBlobs ?? false);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function resolveArchive(spool: SpooledArchive, platform: Platform): Promise<ResolvedImage> {
  const file = await open(spool.path, 'r');
  try {
    let index: TarIndex;
    try {
      index = await indexTar(file, spool.tarBytes, IMAGE_MARKERS);
    } catch (err) {
      if (!(err instanceof NotTarError)) throw err;
      if (err.index.entries.length === 0 && err.index.topLevel.size === 0) {
        throw invalid(`the upload is not an image archive: ${notTar(spool, err)}`);
      }
      // A tar damaged midway is a rootfs for the extractor to judge, unless it was becoming an image archive.
      if ([...IMAGE_MARKERS].some((name) => err.index.topLevel.has(name))) throw invalid(`the image archive is damaged: ${err.message}`);
      index = err.index;
    }
    const archive = new ArchiveContents(file, index);
    const format = detectFormat(archive);
    if (format === 'rootfs') return rootfsImage(spool, await spoolDigest(spool), platform);
    if (format === 'docker-save') return await resolveDockerSave(archive, platform);
    return await resolveOciLayout(archive, format, platform);
  } finally {
    await file.close();
  }
}

function notTar(spool: SpooledArchive, err: NotTarError): string {
  const what = describeMagic(spool.head);
  const compressed = spool.compression === 'none' ? '' : ` (after ${spool.compression})`;
  return `${what ? `${what}, not a tar` : `not a tar: ${err.message}`}${compressed}; nagaya reads OCI image layouts, docker save archives and rootfs tarballs (tar, gzip or zstd)`;
}

/** A rootfs tarball as a one-layer image with an empty config. */
function rootfsImage(spool: SpooledArchive, tarDigest: string, platform: Platform): ResolvedImage {
  const configDoc = {
    architecture: platform.architecture,
    os: platform.os,
    config: {},
    rootfs: { type: 'layers', diff_ids: [tarDigest] },
  };
  const configBytes = Buffer.from(JSON.stringify(configDoc));
  return {
    format: 'rootfs',
    configDigest: sha256(configBytes),
    configBytes,
    config: { os: platform.os, architecture: platform.architecture, env: [], diffIds: [tarDigest] },
    layers: [
      {
        // The layer's blob is the tar itself (the spool, decompressed): what a push would send.
        digest: tarDigest,
        digestDeclared: false,
        mediaType: MEDIA_TYPES.ociLayerTar,
        diffId: tarDigest,
        entry: { name: '', type: 'file', offset: 0, size: spool.tarBytes, linkname: '' },
      },
    ],
  };
}

/** An image's layers as verified into staging, and the step that moves the new ones into the store. */
export interface StagedLayers {
  layers: ImportedLayer[];
  /** Called once every digest has matched: only then do the new layers (or packed blobs) appear. */
  commit(): Promise<void>;
}

/** Unpacks the layers the store lacks into staging; `archive`: the file entries without a path of their own are in. */
async function unpackLayers(
  store: string,
  staging: string,
  archive: string | undefined,
  resolved: ResolvedImage,
  limits: ExtractLimits,
): Promise<StagedLayers> {
  // Decided up front, so that layers can unpack side by side: the first of a repeated layer unpacks, the rest verify.
  const plans = resolved.layers.map((layer, i) => {
    const earlier = resolved.layers.slice(0, i).some((l) => l.diffId === layer.diffId);
    const present = earlier || existsSync(layerDir(store, layer.diffId));
    return { layer, dest: present ? undefined : join(staging, `layer-${i}`), what: `layer ${i + 1} of ${resolved.layers.length}` };
  });
  // A rootfs tarball is unpacked as an OCI layer too: a layer's directory is named by its diff_id
  // alone, so the same tar must give the same directory whichever way it came (otherwise a tar
  // uploaded as a rootfs first would stand, whiteouts as plain files, for another image's layer).
  const unpacked = await mapConcurrently(plans, UNPACK_CONCURRENCY, (p) =>
    unpackLayer(dataFile(p.layer.entry, archive), p.layer, { dest: p.dest, ociLayer: true }, limits, p.what),
  );
  const staged = plans.flatMap((p) => (p.dest ? [{ diffId: p.layer.diffId, dir: p.dest }] : []));
  const layers: ImportedLayer[] = plans.map((p, i) => ({
    diffId: unpacked[i].diffId,
    digest: unpacked[i].digest,
    mediaType: p.layer.mediaType,
    compressedSize: unpacked[i].compressedSize,
    size: unpacked[i].size,
    dir: layerDir(store, unpacked[i].diffId),
    unpacked: p.dest !== undefined,
    packed: false,
    checked: true,
  }));
  return {
    layers,
    commit: async () => {
      for (const s of staged) await commitLayer(store, s.diffId, s.dir);
    },
  };
}

/** The manifest, the kept blobs and the commit that follow the layers, however they were staged. */
async function finishImport(
  store: string,
  staging: string,
  archive: string | undefined,
  resolved: ResolvedImage,
  { layers, commit }: StagedLayers,
  keepBlobs: boolean,
): Promise<ImportedImage> {
  const manifest =
    resolved.manifest ??
    syntheticManifest(
      resolved.configDigest,
      resolved.configBytes.length,
      layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.compressedSize })),
    );
  if (keepBlobs) {
    const layerBlobs = resolved.layers.map((layer, i) => ({ digest: layers[i].digest, entry: layer.entry }));
    await keepImageBlobs(store, staging, archive, resolved, manifest, layerBlobs);
  }
  // Every digest has matched: only now do the new layers appear.
  await commit();
  return {
    format: resolved.format,
    manifestDigest: manifest.digest,
    configDigest: resolved.configDigest,
    config: resolved.config,
    layers,
    totalSize: layers.reduce((sum, l) => sum + l.size, 0),
    manifestJson: manifest.bytes.toString('utf8'),
    configJson: resolved.configBytes.toString('utf8'),
  };
}

/** Copies the image's verified blobs out of the spool into the store's blobs. */
async function keepImageBlobs(
  store: string,
  staging: string,
  archive: string | undefined,
  resolved: ResolvedImage,
  manifest: { digest: string; bytes: Buffer },
  layerBlobs: Array<{ digest: string; entry: TarEntry }>,
): Promise<void> {
  const blobs = new Map<string, Buffer | { path: string; offset: number; size: number }>([
    [manifest.digest, manifest.bytes],
    [resolved.configDigest, resolved.configBytes],
  ]);
  for (const { digest, entry } of layerBlobs) blobs.set(digest, { path: dataFile(entry, archive), offset: entry.offset, size: entry.size });
  let n = 0;
  for (const [digest, source] of blobs) {
    const staged = join(staging, `blob-${n++}`);
    await stageBlob(staged, source);
    await commitBlob(store, digest, staged);
  }
}
