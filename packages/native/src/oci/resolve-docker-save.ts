// A legacy `docker save` archive: manifest.json lists each image's config (<hex>.json) and its
// layer tars (<id>/layer.tar, a repeated one a symlink to the first) bottom first. The config
// is checked against the sha256 its name carries and the layers against its rootfs.diff_ids; the
// OCI manifest nagaya would push for it is made up, so the image has a manifest digest too.
import { NativeError } from '../errors';
import type { ArchiveContents } from './archive-contents';
import { sha256 } from './archive-contents';
import { compressionOf } from './decompress';
import { MEDIA_TYPES, type Platform, parseConfig, platformMatches, platformName } from './image-model';
import type { ResolvedImage } from './resolved-image';

interface SaveEntry {
  Config: string;
  RepoTags?: string[];
  Layers: string[];
}

function invalid(message: string): NativeError {
  return new NativeError(message, { code: 'INVALID_INPUT' });
}

function parseSaveManifest(doc: unknown): SaveEntry[] {
  const ok =
    Array.isArray(doc) &&
    doc.length > 0 &&
    doc.every(
      (e) =>
        typeof e === 'object' &&
        e !== null &&
        typeof e.Config === 'string' &&
        Array.isArray(e.Layers) &&
        e.Layers.every((l: unknown) => typeof l === 'string'),
    );
  if (!ok) throw invalid('a tar whose top level holds a manifest.json that is not a docker save manifest (a list of {Config, Layers})');
  return doc as SaveEntry[];
}

const LAYER_MEDIA_TYPES = { none: MEDIA_TYPES.ociLayerTar, gzip: MEDIA_TYPES.ociLayerGzip, zstd: MEDIA_TYPES.ociLayerZstd };

/** Reads manifest.json down to the one image for node's platform. */
export async function resolveDockerSave(archive: ArchiveContents, node: Platform): Promise<ResolvedImage> {
  const saved = parseSaveManifest(await archive.readJson('manifest.json', 'the docker save manifest'));
  const matching: Array<{ save: SaveEntry; configBytes: Buffer; config: ReturnType<typeof parseConfig> }> = [];
  const seen: string[] = [];
  for (const save of saved) {
    const entry = archive.fileEntry(save.Config.replace(/^(\.\/|\/)+/, ''));
    if (!entry) throw invalid(`a tar whose top level holds manifest.json but no config it names (${save.Config})`);
    const configBytes = await archive.readDocument(entry, 'an image config');
    const named = /([a-f0-9]{64})\.json$/.exec(save.Config);
    const configDigest = sha256(configBytes);
    if (named && `sha256:${named[1]}` !== configDigest) {
      throw invalid(`config ${save.Config} does not match the digest its name carries: its content hashes to ${configDigest}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(configBytes.toString('utf8'));
    } catch (err) {
      throw invalid(`config ${save.Config} is not JSON: ${(err as Error).message}`);
    }
    const config = parseConfig(doc, `config ${save.Config}`);
    const platform = { os: config.os, architecture: config.architecture };
    if (config.os === '' || platformMatches(platform, node)) matching.push({ save, configBytes, config });
    else seen.push(platformName(platform));
  }
  if (matching.length === 0) {
    throw invalid(`the archive holds no image for this node's platform ${platformName(node)}; it has: ${[...new Set(seen)].join(', ')}`);
  }
  if (matching.length > 1) {
    const names = matching.map((m) => m.save.RepoTags?.join(' ') || m.save.Config).join(', ');
    throw invalid(`the archive holds ${matching.length} images for ${platformName(node)} (${names}); import one at a time`);
  }
  const { save, configBytes, config } = matching[0];
  if (save.Layers.length !== config.diffIds.length) {
    throw invalid(`manifest.json lists ${save.Layers.length} layers but config ${save.Config} has ${config.diffIds.length} diff_ids`);
  }
  const layers = [];
  for (const [i, name] of save.Layers.entries()) {
    const entry = archive.fileEntry(name.replace(/^(\.\/|\/)+/, ''));
    if (!entry) throw invalid(`a tar whose top level holds manifest.json but not the layer ${name} it names`);
    const head = await archive.read({ ...entry, size: Math.min(4, entry.size) });
    const mediaType = LAYER_MEDIA_TYPES[compressionOf(head)];
    // A layer blob has no descriptor here: its digest is computed as it is read, checked only through the diff_id.
    layers.push({ digest: config.diffIds[i], digestDeclared: false, mediaType, diffId: config.diffIds[i], entry });
  }
  // The manifest digest waits for the layers' own digests (syntheticManifest).
  return { format: 'docker-save', configDigest: sha256(configBytes), configBytes, config, layers };
}
