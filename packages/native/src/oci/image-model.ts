// The OCI image model an import reads: descriptors, index, manifest and config, validated as
// they are parsed (a field of the wrong shape is INVALID_INPUT naming the document), and the
// config's run settings that become a launch's defaults.
import { NativeError } from '../errors';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]);
export const MANIFEST_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

/** Filesystem layers: OCI's (nondistributable ones too) and Docker's; anything else is not a layer nagaya can unpack. */
const LAYER_TYPE =
  /^application\/vnd\.(oci\.image\.layer(\.nondistributable)?\.v1\.tar(\+gzip|\+zstd)?|docker\.image\.rootfs\.(foreign\.)?diff\.tar(\.gzip|\.zstd)?)$/;

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  manifests: Descriptor[];
}

export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

/** The run settings of an image config, the defaults of a launch. */
export interface ImageConfig {
  os: string;
  architecture: string;
  variant?: string;
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  /** rootfs.diff_ids: each layer's uncompressed sha256, bottom first. */
  diffIds: string[];
}

function invalid(message: string): NativeError {
  return new NativeError(message, { code: 'INVALID_INPUT' });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A sha256 digest, the only algorithm nagaya verifies. */
export function checkDigest(digest: unknown, where: string): string {
  if (typeof digest !== 'string' || !SHA256.test(digest)) {
    throw invalid(`${where} has the digest ${JSON.stringify(digest)}; only sha256:<64 hex> digests are read`);
  }
  return digest;
}

export function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} is not a descriptor object`);
  const digest = checkDigest(value.digest, where);
  if (!Number.isSafeInteger(value.size) || (value.size as number) < 0) throw invalid(`${where} (${digest}) has no valid size`);
  const platform =
    isObject(value.platform) && typeof value.platform.os === 'string' && typeof value.platform.architecture === 'string'
      ? {
          os: value.platform.os,
          architecture: value.platform.architecture,
          ...(typeof value.platform.variant === 'string' ? { variant: value.platform.variant } : {}),
        }
      : undefined;
  return {
    mediaType: typeof value.mediaType === 'string' ? value.mediaType : undefined,
    digest,
    size: value.size as number,
    ...(platform ? { platform } : {}),
    ...(isObject(value.annotations) ? { annotations: value.annotations as Record<string, string> } : {}),
  };
}

/** Whether a parsed document is an index (it lists manifests) rather than a manifest. */
export function isIndexDocument(doc: unknown): boolean {
  return isObject(doc) && (INDEX_TYPES.has(doc.mediaType as string) || (Array.isArray(doc.manifests) && !('layers' in doc)));
}

export function parseIndex(doc: unknown, where: string): ImageIndex {
  if (!isObject(doc) || doc.schemaVersion !== 2 || !Array.isArray(doc.manifests)) {
    throw invalid(`${where} is not an image index (schemaVersion 2 with a manifests list)`);
  }
  return { manifests: doc.manifests.map((d, i) => parseDescriptor(d, `${where} manifests[${i}]`)) };
}

export function parseManifest(doc: unknown, where: string): ImageManifest {
  if (!isObject(doc) || doc.schemaVersion !== 2 || !Array.isArray(doc.layers)) {
    throw invalid(`${where} is not an image manifest (schemaVersion 2 with config and layers)`);
  }
  const layers = doc.layers.map((d, i) => parseDescriptor(d, `${where} layers[${i}]`));
  for (const layer of layers) {
    if (layer.mediaType !== undefined && !LAYER_TYPE.test(layer.mediaType)) {
      throw invalid(`${where}: layer ${layer.digest} has the media type ${layer.mediaType}, not a filesystem layer`);
    }
  }
  return { config: parseDescriptor(doc.config, `${where} config`), layers };
}

function stringList(value: unknown, where: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalid(`${where} is not a list of strings`);
  return value as string[];
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(`${where} is not a string`);
  return value;
}

export function parseConfig(doc: unknown, where: string): ImageConfig {
  if (!isObject(doc)) throw invalid(`${where} is not an image config object`);
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw invalid(`${where} has no rootfs.diff_ids`);
  }
  const diffIds = rootfs.diff_ids.map((d, i) => checkDigest(d, `${where} rootfs.diff_ids[${i}]`));
  const run = isObject(doc.config) ? doc.config : {};
  const entrypoint = stringList(run.Entrypoint, `${where} config.Entrypoint`);
  const cmd = stringList(run.Cmd, `${where} config.Cmd`);
  const workingDir = optionalString(run.WorkingDir, `${where} config.WorkingDir`);
  const user = optionalString(run.User, `${where} config.User`);
  return {
    os: typeof doc.os === 'string' ? doc.os : '',
    architecture: typeof doc.architecture === 'string' ? doc.architecture : '',
    ...(typeof doc.variant === 'string' ? { variant: doc.variant } : {}),
    ...(entrypoint ? { entrypoint } : {}),
    ...(cmd ? { cmd } : {}),
    env: stringList(run.Env, `${where} config.Env`) ?? [],
    ...(workingDir ? { workingDir } : {}),
    ...(user ? { user } : {}),
    diffIds,
  };
}

/** This node's platform in OCI's words (Node's x64 is OCI's amd64). */
export function nodePlatform(): Platform {
  const architecture = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  return { os: 'linux', architecture };
}

export function platformName(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Whether an image of platform p runs here (the variant is not compared: arm64 is v8 whatever it says). */
export function platformMatches(p: Platform, node: Platform): boolean {
  return p.os === node.os && p.architecture === node.architecture;
}
