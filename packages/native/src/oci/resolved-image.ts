// What an archive's format reader hands the unpacker: the chosen manifest, its verified config,
// and where each layer's blob sits in the spool.
import { sha256 } from './archive-contents';
import { type ImageConfig, MEDIA_TYPES } from './image-model';
import type { TarEntry } from './tar-index';

/** How the archive was recognised. */
export type ImageFormat = 'oci-layout' | 'docker-save' | 'docker-save-oci' | 'rootfs';

export interface LayerSource {
  /** The blob's digest: verified as the blob is read when the archive names it (OCI), else computed. */
  digest: string;
  /** Whether digest comes from a descriptor and must be checked (false: it is computed from the blob). */
  digestDeclared: boolean;
  mediaType: string;
  /** The uncompressed tar's sha256 the config promises (rootfs.diff_ids); undefined for a rootfs tarball, whose diff id is computed. */
  diffId: string;
  entry: TarEntry;
}

export interface ResolvedImage {
  format: ImageFormat;
  /** The manifest as the archive holds it; undefined where it has none (docker save, rootfs): syntheticManifest makes one after unpacking. */
  manifest?: { digest: string; bytes: Buffer };
  configDigest: string;
  /** The config blob exactly as read (its sha256 is configDigest). */
  configBytes: Buffer;
  config: ImageConfig;
  layers: LayerSource[];
}

/**
 * The OCI manifest that describes an image read without one (docker save, a rootfs tarball):
 * the manifest nagaya would push for it, so every image has a manifest digest.
 */
export function syntheticManifest(
  configDigest: string,
  configSize: number,
  layers: Array<{ mediaType: string; digest: string; size: number }>,
): { digest: string; bytes: Buffer } {
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: configSize },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { digest: sha256(bytes), bytes };
}
