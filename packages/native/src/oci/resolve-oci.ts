// An OCI image layout (oci-layout, index.json, blobs/sha256/…), also the Docker ≥ 25 save that
// carries one: index.json leads to this node's manifest (through nested indexes and manifest
// lists), the manifest to the config and layers, each blob verified against its descriptor.
import { NativeError } from '../errors';
import type { ArchiveContents } from './archive-contents';
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  INDEX_TYPES,
  isIndexDocument,
  MANIFEST_TYPES,
  MEDIA_TYPES,
  type Platform,
  parseConfig,
  parseIndex,
  parseManifest,
  platformMatches,
  platformName,
} from './image-model';
import type { ImageFormat, ResolvedImage } from './resolved-image';

/** Indexes inside indexes: a manifest list in a layout's index.json is one level; more is a loop or a trick. */
const MAX_NESTING = 3;

interface Candidate {
  descriptor: Descriptor;
  manifestBytes: Buffer;
  configBytes: Buffer;
  manifest: ImageManifest;
  config: ImageConfig;
  configDescriptor: Descriptor;
  platform: Platform;
}

function invalid(message: string): NativeError {
  return new NativeError(message, { code: 'INVALID_INPUT' });
}

/** Reads the layout's index.json down to the one manifest for node's platform. */
export async function resolveOciLayout(archive: ArchiveContents, format: ImageFormat, node: Platform): Promise<ResolvedImage> {
  const layout = (await archive.readJson('oci-layout', 'the OCI layout marker')) as { imageLayoutVersion?: unknown } | null;
  if (typeof layout?.imageLayoutVersion !== 'string') throw invalid('oci-layout has no imageLayoutVersion');
  const index = parseIndex(await archive.readJson('index.json', 'the OCI layout index'), 'index.json');

  const manifests: Descriptor[] = [];
  await collectManifests(archive, index.manifests, 0, manifests);
  const unique = [...new Map(manifests.map((d) => [d.digest, d])).values()];
  if (unique.length === 0) throw invalid('index.json lists no image manifest');

  // A platform the index names is trusted to skip a manifest (a save of a multi-platform image
  // holds the other platforms' manifests without their blobs); the config has the last word.
  const seen: string[] = [];
  const matching: Candidate[] = [];
  for (const descriptor of unique) {
    if (descriptor.platform && !platformMatches(descriptor.platform, node)) {
      if (descriptor.platform.os !== 'unknown') seen.push(platformName(descriptor.platform));
      continue;
    }
    const candidate = await loadCandidate(archive, descriptor);
    if (candidate.platform.os === '' || platformMatches(candidate.platform, node)) matching.push(candidate);
    else seen.push(platformName(candidate.platform));
  }
  if (matching.length === 0) {
    const found = [...new Set(seen)].join(', ') || 'none';
    throw invalid(`the archive holds no image for this node's platform ${platformName(node)}; it has: ${found}`);
  }
  if (matching.length > 1) {
    const names = matching.map((c) => refName(c.descriptor) ?? c.descriptor.digest).join(', ');
    throw invalid(`the archive holds ${matching.length} images for ${platformName(node)} (${names}); import one at a time`);
  }
  const chosen = matching[0];
  if (chosen.manifest.layers.length !== chosen.config.diffIds.length) {
    throw invalid(
      `manifest ${chosen.descriptor.digest} lists ${chosen.manifest.layers.length} layers but its config ${chosen.configDescriptor.digest} has ${chosen.config.diffIds.length} diff_ids`,
    );
  }
  return {
    format,
    manifest: { digest: chosen.descriptor.digest, bytes: chosen.manifestBytes },
    configDigest: chosen.configDescriptor.digest,
    configBytes: chosen.configBytes,
    config: chosen.config,
    layers: chosen.manifest.layers.map((layer, i) => ({
      digest: layer.digest,
      digestDeclared: true,
      mediaType: layer.mediaType ?? MEDIA_TYPES.ociLayerTar,
      diffId: chosen.config.diffIds[i],
      entry: archive.blobEntry(layer, `layer ${i + 1} of ${chosen.descriptor.digest}`),
    })),
  };
}

async function collectManifests(archive: ArchiveContents, list: Descriptor[], depth: number, out: Descriptor[]): Promise<void> {
  for (const descriptor of list) {
    if (descriptor.mediaType && MANIFEST_TYPES.has(descriptor.mediaType)) {
      out.push(descriptor);
      continue;
    }
    if (descriptor.mediaType && !INDEX_TYPES.has(descriptor.mediaType)) continue; // an artifact, not an image
    const { doc } = await archive.readJsonBlob(descriptor, 'an index entry');
    if (!isIndexDocument(doc)) {
      out.push(descriptor);
      continue;
    }
    if (depth >= MAX_NESTING) throw invalid(`index ${descriptor.digest} nests indexes more than ${MAX_NESTING} deep`);
    await collectManifests(archive, parseIndex(doc, `index ${descriptor.digest}`).manifests, depth + 1, out);
  }
}

async function loadCandidate(archive: ArchiveContents, descriptor: Descriptor): Promise<Candidate> {
  const { doc, bytes: manifestBytes } = await archive.readJsonBlob(descriptor, 'an image manifest');
  const manifest = parseManifest(doc, `manifest ${descriptor.digest}`);
  const configDescriptor = manifest.config;
  const { doc: configDoc, bytes: configBytes } = await archive.readJsonBlob(
    configDescriptor,
    `the config of manifest ${descriptor.digest}`,
  );
  const config = parseConfig(configDoc, `config ${configDescriptor.digest}`);
  // The index's platform says where to look; the config says what the image is.
  const platform = config.os
    ? { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }
    : (descriptor.platform ?? { os: '', architecture: '' });
  return { descriptor, manifestBytes, configBytes, manifest, config, configDescriptor, platform };
}

function refName(d: Descriptor): string | undefined {
  return d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name'];
}
