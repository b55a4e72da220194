// OCI image archives written by hand for the import tests and the images bench: layers from
// raw-tar entries (or tar bytes), compressed with gzip, zstd or not at all, packed as an OCI
// image layout, a legacy `docker save` or the Docker ≥ 25 save that carries both.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

import { rawTar, type RawEntry } from './raw-tar';

export type LayerCompression = 'none' | 'gzip' | 'zstd';

export interface FixtureLayer {
  /** The uncompressed tar. */
  tar: Buffer;
  compression: LayerCompression;
}

export interface FixtureImage {
  layers: Array<{ tar: Buffer; blob: Buffer; mediaType: string; digest: string; diffId: string }>;
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (digest: string) => digest.slice('sha256:'.length);

const MEDIA: Record<LayerCompression, string> = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/** Compresses with Node's gzip or Debian's zstd. */
export function compress(tar: Buffer, compression: LayerCompression): Buffer {
  if (compression === 'gzip') return gzipSync(tar, { level: 1 });
  if (compression === 'zstd') {
    const run = spawnSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 2 * 1024 * 1024 * 1024 });
    if (run.status !== 0) throw new Error(`zstd failed: ${run.stderr}`);
    return run.stdout;
  }
  return tar;
}

export function layerOf(entries: RawEntry[], compression: LayerCompression = 'gzip'): FixtureLayer {
  return { tar: rawTar(entries), compression };
}

export interface RunConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
}

/** An image: its layers' blobs, config and manifest, with digests computed as a registry would. */
export function buildImage(layers: FixtureLayer[], run: RunConfig = {}, architecture = nodeArch()): FixtureImage {
  const built = layers.map((l) => {
    const blob = compress(l.tar, l.compression);
    return { tar: l.tar, blob, mediaType: MEDIA[l.compression], digest: sha256(blob), diffId: sha256(l.tar) };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      os: 'linux',
      config: run,
      rootfs: { type: 'layers', diff_ids: built.map((l) => l.diffId) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: built.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length })),
    }),
  );
  return { layers: built, config, configDigest: sha256(config), manifest, manifestDigest: sha256(manifest) };
}

export function nodeArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

const file = (name: string, body: Buffer | string): RawEntry => ({ name, body, mode: 0o644 });
const dir = (name: string): RawEntry => ({ name, type: 'directory', mode: 0o755 });

/** The files of an OCI image layout for the image (index.json may list more manifests). */
export function ociLayoutFiles(
  image: FixtureImage,
  index: object = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: image.manifestDigest,
        size: image.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'latest' },
      },
    ],
  },
  extraBlobs: Buffer[] = [],
): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  files.set('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  files.set('index.json', Buffer.from(JSON.stringify(index)));
  for (const blob of [image.manifest, image.config, ...image.layers.map((l) => l.blob), ...extraBlobs]) {
    files.set(`blobs/sha256/${hex(sha256(blob))}`, blob);
  }
  return files;
}

/** An OCI image layout as a tar (blobs first, index.json last, as no reader may rely on order). */
export function ociLayoutTar(image: FixtureImage, files = ociLayoutFiles(image)): Buffer {
  const entries: RawEntry[] = [dir('blobs/'), dir('blobs/sha256/')];
  for (const [name, body] of files) if (name.startsWith('blobs/')) entries.push(file(name, body));
  entries.push(file('oci-layout', files.get('oci-layout') as Buffer), file('index.json', files.get('index.json') as Buffer));
  return rawTar(entries);
}

/** The Docker ≥ 25 save: an OCI layout with uncompressed layers, and manifest.json beside it. */
export function docker25Tar(image: FixtureImage): Buffer {
  const files = ociLayoutFiles(image);
  const entries: RawEntry[] = [dir('blobs/'), dir('blobs/sha256/')];
  for (const [name, body] of files) if (name.startsWith('blobs/')) entries.push(file(name, body));
  const saved = [
    {
      Config: `blobs/sha256/${hex(image.configDigest)}`,
      RepoTags: ['fixture:latest'],
      Layers: image.layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
    },
  ];
  entries.push(
    file('index.json', files.get('index.json') as Buffer),
    file('manifest.json', JSON.stringify(saved)),
    file('oci-layout', files.get('oci-layout') as Buffer),
  );
  return rawTar(entries);
}

/** A legacy docker save: <id>/layer.tar (uncompressed), <config hex>.json, manifest.json last; a repeated layer is a symlink. */
export function dockerSaveTar(image: FixtureImage): Buffer {
  const entries: RawEntry[] = [];
  const ids: string[] = [];
  const first = new Map<string, string>();
  for (const [i, layer] of image.layers.entries()) {
    const id = hex(sha256(`${layer.diffId}-${i}`));
    ids.push(id);
    entries.push(dir(`${id}/`), file(`${id}/VERSION`, '1.0'), file(`${id}/json`, JSON.stringify({ id })));
    const earlier = first.get(layer.diffId);
    if (earlier) entries.push({ name: `${id}/layer.tar`, type: 'symlink', linkname: `../${earlier}/layer.tar` });
    else {
      entries.push(file(`${id}/layer.tar`, layer.tar));
      first.set(layer.diffId, id);
    }
  }
  entries.push(file(`${hex(image.configDigest)}.json`, image.config));
  const saved = [{ Config: `${hex(image.configDigest)}.json`, RepoTags: ['fixture:latest'], Layers: ids.map((id) => `${id}/layer.tar`) }];
  entries.push(file('manifest.json', JSON.stringify(saved)), file('repositories', JSON.stringify({ fixture: { latest: ids.at(-1) } })));
  return rawTar(entries);
}

/** A small runnable image: busybox (and sh) in a gzip layer, /etc/motd in a zstd one. */
export function busyboxImage(motd: string, run: RunConfig): FixtureImage {
  return buildImage(
    [
      layerOf([
        { name: 'bin/', type: 'directory', mode: 0o755 },
        { name: 'bin/busybox', body: readFileSync('/bin/busybox'), mode: 0o755 },
        { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
      ]),
      layerOf(
        [
          { name: 'etc/', type: 'directory', mode: 0o755 },
          { name: 'etc/motd', body: motd },
        ],
        'zstd',
      ),
    ],
    run,
  );
}

/** The image with another config: the manifest and index follow, so only the diff_ids lie. */
export function imageWithConfig(img: FixtureImage, config: Buffer): FixtureImage {
  const manifest = JSON.parse(img.manifest.toString());
  manifest.config.digest = sha256(config);
  manifest.config.size = config.length;
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { ...img, config, configDigest: sha256(config), manifest: manifestBytes, manifestDigest: sha256(manifestBytes) };
}
