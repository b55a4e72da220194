// Which kind of archive an import is, told from its top-level names (never its file name):
// an OCI layout (oci-layout, index.json, blobs/), the Docker ≥ 25 save that is an OCI layout
// with a manifest.json beside it, a legacy docker save (manifest.json, <id>/layer.tar), or a
// plain rootfs tarball, a single layer as before. A tar that starts to be an image archive but
// lacks a part is refused naming what it holds, never unpacked as a rootfs.
import { NativeError } from '../errors';
import type { ArchiveContents } from './archive-contents';
import type { ImageFormat } from './resolved-image';

function invalid(message: string): NativeError {
  return new NativeError(message, { code: 'INVALID_INPUT' });
}

/** The names at the top level that make a tar an image archive rather than a root filesystem. */
export const IMAGE_MARKERS: ReadonlySet<string> = new Set(['oci-layout', 'index.json', 'manifest.json', 'blobs', 'repositories']);

export function detectFormat(archive: ArchiveContents): ImageFormat {
  const held = [...IMAGE_MARKERS].filter((name) => archive.topLevel.has(name));
  if (held.length === 0) return 'rootfs';
  if (archive.dropped > 0) throw invalid(`a tar whose top level holds ${held.join(', ')} and more entries than an image archive has`);
  const shown = held.map((n) => (n === 'blobs' ? 'blobs/' : n)).join(', ');
  const oci = archive.topLevel.has('oci-layout') || archive.topLevel.has('index.json') || archive.topLevel.has('blobs');
  if (oci) {
    const missing = ['oci-layout', 'index.json'].filter((n) => !archive.has(n));
    if (missing.length)
      throw invalid(`a tar whose top level holds ${shown} but no ${missing.join(' or ')}: not a complete OCI image layout`);
    return archive.has('manifest.json') ? 'docker-save-oci' : 'oci-layout';
  }
  if (archive.has('manifest.json')) return 'docker-save';
  throw invalid(
    `a tar whose top level holds ${shown} but no manifest.json: a docker save from before Docker 1.10, or not an image archive`,
  );
}
