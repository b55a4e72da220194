// Volumes and mounts: the rules a path must follow and the views the API returns (zod-free, so
// the dashboard and the CLI can check a path before sending it).

/** At most this many mounts per container (the launcher's own bound). */
export const MAX_MOUNTS = 32;

/**
 * Kernel filesystems the launcher mounts in every container (and the host's own): no mount may
 * be placed on or beneath them, and no host path may be taken from them.
 */
export const KERNEL_PATHS = ['/proc', '/sys', '/dev'] as const;

/** Tells whether `path` is `root` or lies beneath it (both normalised absolute paths). */
export function isAtOrBeneath(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/**
 * What is wrong with an absolute path a request names, or undefined: it must be absolute and
 * normalised (no `.` or `..` segment, no empty segment, no trailing /), not / itself, at most
 * 4096 characters, without NUL, and not on or beneath /proc, /sys or /dev.
 */
export function absolutePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must be an absolute path';
  if (path === '/') return 'cannot be / itself';
  if (path.includes('\0')) return 'must not contain NUL';
  if (path.length > 4096) return 'must be at most 4096 characters';
  const segments = path.slice(1).split('/');
  if (segments.some((s) => s === '')) return 'must be normalised (no // and no trailing /)';
  if (segments.some((s) => s === '.' || s === '..')) return 'must be normalised (no . or .. segments)';
  const kernel = KERNEL_PATHS.find((k) => isAtOrBeneath(path, k));
  if (kernel) return `cannot be on or beneath ${kernel}`;
  return undefined;
}

/** A mount of a container as the API shows it: a volume of its project, or a host directory. */
export type ContainerMountView =
  | { volume: string; path: string; readOnly: boolean }
  | { hostPath: string; path: string; readOnly: boolean; shift: boolean };

/** A container that mounts a volume, and where. */
export interface VolumeUserView {
  container: string;
  path: string;
  readOnly: boolean;
}

/** One entry of GET /volumes, and GET /volumes/:name. */
export interface VolumeView {
  id: string;
  project: string;
  name: string;
  /** The node whose disk holds it; every container that mounts it runs there. */
  node: string;
  /** Its size limit (a filesystem project quota); null: none. */
  sizeBytes: number | null;
  /** Bytes its files take on the node's disk (du), or null when its node did not answer. */
  usedBytes: number | null;
  /** The containers of its project that mount it. */
  mountedBy: VolumeUserView[];
  createdAt: string;
}

/** A mount as a create asks for it (the zod schema `mountSchema` checks it at the API). */
export type MountSpec =
  | { volume: string; path: string; readOnly?: boolean }
  | { hostPath: string; path: string; readOnly?: boolean; shift?: boolean };

/**
 * Parses the text form of a mount, as `nagaya launch --mount` and the dashboard take it:
 * `volume:NAME:/path[:ro]` or `host:/dir:/path[:ro][:shift]` (options in any order, each once).
 * Returns undefined for anything else; the API checks the names and paths.
 */
export function parseMountSpec(spec: string): MountSpec | undefined {
  const [kind, source, path, ...options] = spec.split(':');
  if (!source || !path?.startsWith('/')) return undefined;
  if (new Set(options).size !== options.length) return undefined;
  const readOnly = options.includes('ro');
  if (kind === 'volume') {
    if (options.some((o) => o !== 'ro')) return undefined;
    return { volume: source, path, ...(readOnly ? { readOnly } : {}) };
  }
  if (kind === 'host') {
    if (!source.startsWith('/') || options.some((o) => o !== 'ro' && o !== 'shift')) return undefined;
    return { hostPath: source, path, ...(readOnly ? { readOnly } : {}), ...(options.includes('shift') ? { shift: true } : {}) };
  }
  return undefined;
}
