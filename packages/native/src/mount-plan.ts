import { posix } from 'node:path';

import { hasNul } from './plan-checks';

// A plan's mounts: host directories mounted into the container, checked and put in mount order.

/** A directory of the host mounted into the container (a volume or an admin's host path). */
export interface ContainerMount {
  /**
   * Absolute host directory, already resolved by the caller (the launcher opens it without
   * following a final symlink and refuses a non-directory, at step 'mount-volume').
   */
  source: string;
  /** Absolute path inside the container: normalised, not "/", no "..", at most 4096 bytes. */
  target: string;
  readOnly?: boolean;
  /**
   * true (volumes, host paths with shift): the source's owners 0..65535 show as the container's
   * own 0..65535 through a mount idmapped onto the container's user namespace, never chowned.
   * false: a plain bind mount, where host-owned files show as nobody (65534).
   */
  idmap: boolean;
}

/** A plan's mount as the launcher gets it; the plan's mounts are sorted so a parent comes before its children. */
export interface ResolvedMount {
  source: string;
  target: string;
  readOnly: boolean;
  idmap: boolean;
}

/** Most mounts of one container (the launcher hands each over as an fd with the layers'). */
export const MAX_MOUNTS = 32;
/** PATH_MAX, in bytes, for a mount's source and target. */
const MAX_MOUNT_PATH = 4096;
/** Where the launcher mounts the kernel's filesystems: a mount there would hide them or be hidden. */
const RESERVED_TARGETS = ['/proc', '/sys', '/dev'];

/** Checks a mount's path: absolute, normalised (no ".", "..", "//" or trailing "/"), no NUL, not too long. */
function mountPathProblem(name: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return `${name} must be a non-empty string`;
  if (hasNul(value)) return `${name} must not contain NUL`;
  if (!value.startsWith('/')) return `${name} must be an absolute path`;
  if (Buffer.byteLength(value) > MAX_MOUNT_PATH) return `${name} must be at most ${MAX_MOUNT_PATH} bytes`;
  if (value.split('/').includes('..')) return `${name} must not contain ".."`;
  if (value !== '/' && (value.endsWith('/') || posix.normalize(value) !== value))
    return `${name} must be normalised (no ".", "//" or trailing "/")`;
  return undefined;
}

/** The plan's mounts, checked one by one and sorted so that a parent is mounted before its children. */
export function resolveMounts(mounts: ContainerMount[] | undefined, problems: string[]): ResolvedMount[] {
  if (mounts === undefined) return [];
  if (!Array.isArray(mounts) || mounts.length > MAX_MOUNTS) {
    problems.push(`mounts must be an array of at most ${MAX_MOUNTS} mounts`);
    return [];
  }
  const resolved: ResolvedMount[] = [];
  const byTarget = new Map<string, number>();
  mounts.forEach((mount, i) => {
    const name = `mounts[${i}]`;
    if (typeof mount !== 'object' || mount === null || Array.isArray(mount)) {
      problems.push(`${name} must be an object`);
      return;
    }
    const before = problems.length;
    for (const key of Object.keys(mount)) {
      if (!['source', 'target', 'readOnly', 'idmap'].includes(key)) problems.push(`${name}.${key} is not a known option`);
    }
    const sourceProblem = mountPathProblem(`${name}.source`, mount.source);
    if (sourceProblem) problems.push(sourceProblem);
    const targetProblem = mountPathProblem(`${name}.target`, mount.target);
    if (targetProblem) problems.push(targetProblem);
    else if (mount.target === '/') problems.push(`${name}.target must not be "/"`);
    else {
      const reserved = RESERVED_TARGETS.find((r) => mount.target === r || mount.target.startsWith(`${r}/`));
      if (reserved) problems.push(`${name}.target must not be in ${reserved} (the launcher mounts the kernel's filesystem there)`);
      else if (byTarget.has(mount.target)) problems.push(`${name}.target is the target of mounts[${byTarget.get(mount.target)}] too`);
      else byTarget.set(mount.target, i);
    }
    if (mount.readOnly !== undefined && typeof mount.readOnly !== 'boolean') problems.push(`${name}.readOnly must be a boolean`);
    if (typeof mount.idmap !== 'boolean') problems.push(`${name}.idmap must be a boolean`);
    if (problems.length > before) return;
    resolved.push({ source: mount.source, target: mount.target, readOnly: mount.readOnly === true, idmap: mount.idmap });
  });
  // A path sorts right before every path it is a prefix of ("/a" < "/a/b"): parents come first,
  // and a child's mountpoint is made inside its parent's mount, not hidden beneath it.
  return resolved.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}
