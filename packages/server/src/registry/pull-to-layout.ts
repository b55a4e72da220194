import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NagayaError } from '../errors';
import { SHA256_DIGEST } from './image-reference';
import { MEDIA, type RegistryClient } from './registry-client';

/** The platform a node runs: what a manifest list or index is resolved to. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** This process's platform in OCI's words (Node's x64 is OCI's amd64). */
export function nodePlatform(): Platform {
  const architecture = (
    { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as const
  )[process.arch as 'x64'];
  return { os: 'linux', architecture: architecture ?? process.arch, ...(process.arch === 'arm64' ? { variant: 'v8' } : {}) };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** What a pull put in the layout, and how much. */
export interface PulledImage {
  manifestDigest: string;
  configDigest: string;
  layers: Descriptor[];
  totalBytes: number;
}

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** Layer downloads at once (docker's and skopeo's default is 3). */
const PARALLEL_DOWNLOADS = 3;
const MAX_LAYERS = 128;

/**
 * Pulls an image into an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/`),
 * the form the importer reads: the manifest (a list or index resolved to `platform` first), the
 * config and every layer, each verified by digest. Blobs already in the layout are kept, and a
 * layer's `.partial` file from a pull that broke off is resumed, so a retry costs only what is
 * missing. `maxBytes` bounds the layers' sum before any is fetched.
 */
export async function pullToLayout(
  client: RegistryClient,
  repository: string,
  ref: string,
  layoutDir: string,
  options: { platform: Platform; maxBytes: number; onBytes?: (n: number, total: number) => void },
): Promise<PulledImage> {
  const what = `${repository}:${ref}`;
  let manifest = await client.manifest(repository, ref);
  let doc = parseJson(manifest.bytes, `manifest of ${what}`) as { mediaType?: string; manifests?: Descriptor[] };
  const type = doc.mediaType ?? manifest.mediaType;
  if (type === MEDIA.ociIndex || type === MEDIA.dockerList || Array.isArray(doc.manifests)) {
    const chosen = choosePlatform(doc.manifests ?? [], options.platform, what);
    manifest = await client.manifest(repository, chosen.digest);
    doc = parseJson(manifest.bytes, `manifest of ${what}`) as typeof doc;
  }
  const image = doc as { config?: Descriptor; layers?: Descriptor[]; mediaType?: string };
  const config = image.config;
  const layers = image.layers ?? [];
  if (!config || !isDescriptor(config) || !Array.isArray(image.layers) || !layers.every(isDescriptor)) {
    throw notAnImage(what, 'its manifest has no config or layers of sha256 descriptors');
  }
  if (layers.length === 0 || layers.length > MAX_LAYERS)
    throw notAnImage(what, `it has ${layers.length} layers (1 to ${MAX_LAYERS} are taken)`);
  const totalBytes = layers.reduce((sum, l) => sum + l.size, 0);
  if (totalBytes > options.maxBytes) {
    throw new NagayaError(
      'PAYLOAD_TOO_LARGE',
      `${what}: its layers are ${totalBytes} bytes, more than the ${options.maxBytes} an image may have`,
    );
  }
  const blobs = join(layoutDir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true, mode: 0o700 });
  const blobPath = (digest: string) => join(blobs, digest.slice('sha256:'.length));
  await writeFile(blobPath(manifest.digest), manifest.bytes);
  await writeFile(blobPath(config.digest), await client.smallBlob(repository, config.digest, MAX_CONFIG_BYTES));
  let done = 0;
  const fetchLayer = async (layer: Descriptor) => {
    const dest = blobPath(layer.digest);
    const have = await stat(dest).then(
      (s) => s.size === layer.size,
      () => false,
    );
    if (!have) {
      await client.blobToFile(repository, layer.digest, layer.size, dest, (n) => {
        done += n;
        options.onBytes?.(done, totalBytes);
      });
    } else {
      done += layer.size;
      options.onBytes?.(done, totalBytes);
    }
  };
  // a few at once, as docker and skopeo do: one download leaves the link and the disk idle
  // while it hashes; a repeated layer is fetched once
  const distinct = [...new Map(layers.map((l) => [l.digest, l])).values()];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < distinct.length && !failure) {
      const layer = distinct[next++]!;
      await fetchLayer(layer).catch((error: unknown) => {
        failure ??= { error };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_DOWNLOADS, distinct.length) }, lane));
  if (failure) throw failure.error;
  // a repeated layer's bytes count as the manifest lists them, so the progress reaches its total
  const repeated = totalBytes - distinct.reduce((sum, l) => sum + l.size, 0);
  if (repeated > 0) {
    done += repeated;
    options.onBytes?.(done, totalBytes);
  }
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [
      { mediaType: image.mediaType ?? manifest.mediaType ?? MEDIA.ociManifest, digest: manifest.digest, size: manifest.bytes.length },
    ],
  };
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layoutDir, 'index.json.tmp'), JSON.stringify(index));
  await rename(join(layoutDir, 'index.json.tmp'), join(layoutDir, 'index.json'));
  return { manifestDigest: manifest.digest, configDigest: config.digest, layers, totalBytes };
}

/** The manifest of a list or index for this platform; INVALID_INPUT listing the platforms there are when none fits. */
export function choosePlatform(manifests: Descriptor[], platform: Platform, what: string): Descriptor {
  const candidates = manifests.filter(
    (m) => isDescriptor(m) && m.platform?.os === platform.os && m.platform?.architecture === platform.architecture,
  );
  const exact = candidates.find(
    (m) => platform.variant === undefined || m.platform?.variant === undefined || m.platform.variant === platform.variant,
  );
  if (exact) return exact;
  const found = manifests
    .map((m) => [m.platform?.os, m.platform?.architecture, m.platform?.variant].filter(Boolean).join('/'))
    .filter(Boolean);
  throw new NagayaError(
    'INVALID_INPUT',
    `${what} has no image for ${platform.os}/${platform.architecture}; it has ${found.length ? found.join(', ') : 'no platforms named'}`,
    { field: 'reference', platforms: found },
  );
}

function isDescriptor(d: unknown): d is Descriptor {
  const x = d as Descriptor;
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.digest === 'string' &&
    SHA256_DIGEST.test(x.digest) &&
    Number.isSafeInteger(x.size) &&
    x.size >= 0
  );
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new NagayaError('IMAGE_UNAVAILABLE', `${what} is not JSON`, { reason: 'bad-answer' });
  }
}

function notAnImage(what: string, why: string): NagayaError {
  return new NagayaError('IMAGE_UNAVAILABLE', `${what} is not an image nagaya can run: ${why}`, { reason: 'bad-answer' });
}
