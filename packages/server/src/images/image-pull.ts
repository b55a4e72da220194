import { existsSync } from 'node:fs';
import { importImageLayout, listPacked } from '@nagaya/native';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NagayaError } from '../errors';
import { formatImageReference, manifestRef, parseImageReference } from '../registry/image-reference';
import { nodePlatform, pullToLayout, type Platform } from '../registry/pull-to-layout';
import { RegistryAuth, type RegistryCredentials } from '../registry/registry-auth';
import { RegistryClient } from '../registry/registry-client';
import type { ImageRecord } from './image-records';
import type { ImageStore } from './image-store';

/** What to pull, and as which image. */
export interface PullRequest {
  project: string;
  /** The image's name here (name[:tag]). */
  name: string;
  reference: string;
  /** Used for this pull only: never recorded, never logged. */
  auth?: RegistryCredentials;
}

export interface PullOptions {
  /** A name for the pull's layout directory in the store (the job's id): unique among pulls under way. */
  pullId: string;
  /** Registries (host:port) reached over plain http. */
  insecureRegistries: readonly string[];
  /** The most layer bytes an image may have. */
  maxImageBytes: number;
  platform?: Platform;
  onBytes?: (done: number, total: number) => void;
}

/**
 * Pulls an image from a registry into this node's store and records it as image `name` of
 * `project` (format `registry`, its reference written in full with the manifest's digest). The
 * pull is written as an OCI layout in the store, imported through the one importer every archive
 * goes through (digests verified; layers kept packed, then unpacked by the safe extractor with
 * their diff_ids checked, as an upload's are), recorded,
 * and pushed to the fleet's registry when there is one. Whatever fails, nothing is left behind:
 * no record, no layer (unpacked or packed) that this pull brought and no image uses, and no layout
 * directory unless a download broke off (kept for a retry of the job to resume; see NodeLayers.reconcile).
 * Failures of the registry are IMAGE_UNAVAILABLE; a reference that cannot be, INVALID_INPUT.
 */
export async function pullImage(store: ImageStore, request: PullRequest, options: PullOptions): Promise<ImageRecord> {
  const ref = parseImageReference(request.reference, options.insecureRegistries);
  const client = new RegistryClient(ref.apiBase, new RegistryAuth(request.auth));
  const layout = join(store.ociStore, 'pulls', `job-${options.pullId}`);
  const newLayers: string[] = [];
  let keepLayout = false;
  await mkdir(layout, { recursive: true, mode: 0o700 });
  try {
    const pulled = await pullToLayout(client, ref.repository, manifestRef(ref), layout, {
      platform: options.platform ?? nodePlatform(),
      maxBytes: options.maxImageBytes,
      ...(options.onBytes ? { onBytes: options.onBytes } : {}),
    });
    // the layers this node did not have, unpacked or packed: the ones to remove again if the pull fails from here on
    const listed = await diffIdsOf(join(layout, 'blobs', 'sha256', pulled.configDigest.slice('sha256:'.length)));
    for (const diffId of listed) {
      if (!existsSync(store.layerPath(diffId)) && (await listPacked(store.ociStore, diffId)).length === 0) newLayers.push(diffId);
    }
    // read in place; its blobs were verified as they downloaded, so packed layers are moved, not copied
    const imported = await importImageLayout(layout, store.ociStore, {
      layerLimits: store.limits,
      keepBlobs: store.pushesToRegistry,
      deferUnpack: await store.deferUnpack(request.project),
      blobsVerified: true,
    });
    return await store.recordImported(request.project, request.name, imported, {
      format: 'registry',
      reference: formatImageReference({ ...ref, digest: pulled.manifestDigest }),
      source: 'pull',
    });
  } catch (err) {
    await removeUnusedLayers(store, newLayers);
    // a download broken off: what came stays for a retry of this job to resume (the reconciler removes it after a day)
    const brokenOff = err instanceof NagayaError && (err.details as { reason?: string } | undefined)?.reason === 'unreachable';
    keepLayout = brokenOff && (await readdir(join(layout, 'blobs', 'sha256')).catch(() => [])).length > 0;
    if (err instanceof NagayaError) throw err;
    // the importer's refusals (a layer that does not match its diff_id, a hostile entry) are the registry's content
    throw new NagayaError('IMAGE_UNAVAILABLE', `${request.reference}: ${(err as Error).message}`, { reason: 'bad-content' });
  } finally {
    if (!keepLayout) await rm(layout, { recursive: true, force: true });
  }
}

/** The diff_ids an image config lists (rootfs.diff_ids); none if it cannot be read. */
async function diffIdsOf(configPath: string): Promise<string[]> {
  try {
    const config = JSON.parse(await readFile(configPath, 'utf8')) as { rootfs?: { diff_ids?: unknown } };
    const ids = config.rootfs?.diff_ids;
    return Array.isArray(ids) ? ids.filter((d): d is string => typeof d === 'string' && /^sha256:[a-f0-9]{64}$/.test(d)) : [];
  } catch {
    return [];
  }
}

/** Removes, of the layers a failed pull unpacked, those no recorded image uses. */
async function removeUnusedLayers(store: ImageStore, layers: string[]): Promise<void> {
  if (layers.length === 0) return;
  const used = await store.usedLayers().catch(() => undefined);
  if (!used) return; // Postgres is away: keep them (a later pull of the image reuses them)
  await store.removeLayers(layers.filter((l) => !used.has(l))).catch(() => undefined);
}
