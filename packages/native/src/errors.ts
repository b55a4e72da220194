import { constants } from 'node:os';

/** Codes a NativeError carries besides errno names (EPERM, ENOENT, ...). */
export type UsageErrorCode =
  | 'INVALID_PLAN'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'LAUNCHER_UNAVAILABLE'
  | 'LOAD_FAILED'
  // A launcher record (state.json, exit.json) that exists but cannot be read or parsed.
  | 'CORRUPT_RECORD'
  // An archive refused by the extractor: malformed, leaving its root, or over a limit (NagayaError's codes).
  | 'INVALID_INPUT'
  | 'PAYLOAD_TOO_LARGE'
  // The extractor itself died (a signal, or no report).
  | 'EXTRACT_FAILED'
  // A host networking command (ip, nft) failed.
  | 'HOST_NETWORK';

export interface NativeErrorDetails {
  code: string;
  step?: string;
  syscall?: string;
  errno?: number;
  details?: unknown;
}

/** What a failed step most likely means, where the errno alone does not say. */
const STEP_HINTS: Record<string, string> = {
  'stack-layers': 'overlay takes image layers as O_PATH fds and detached mounts from Linux 6.15 on',
  'mount-init': "the init is the host's tini-static, bind-mounted at /sbin/nagaya-init beneath the image's root",
};

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value as number, name]));

/** Returns the symbolic name of an errno value ("EPERM"), or "E<number>" when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/**
 * The one error class of the native package: a failed step of a launch, exec or stop names the
 * step, the syscall and the errno (`code` is the errno's name); a refused request carries a usage
 * code such as INVALID_PLAN and no syscall.
 */
export class NativeError extends Error {
  readonly code: string;
  readonly step?: string;
  readonly syscall?: string;
  readonly errno?: number;
  readonly details?: unknown;

  constructor(message: string, info: NativeErrorDetails) {
    super(message);
    this.name = 'NativeError';
    this.code = info.code;
    this.step = info.step;
    this.syscall = info.syscall;
    this.errno = info.errno;
    this.details = info.details;
  }

  /** Builds the error for a failed step reported by the launcher. */
  static fromStep(step: string, syscall: string, errno: number, context?: string): NativeError {
    const code = errnoName(errno);
    const where = context ? ` (${context})` : '';
    const hint = STEP_HINTS[step] ? ` (${STEP_HINTS[step]})` : '';
    return new NativeError(`${step} failed${where}: ${syscall}: ${code}${hint}`, { code, step, syscall, errno });
  }
}

/**
 * A mount the launcher could not make, said with its source and target: the launcher reports the
 * step as "mount-volume:<index>" into the resolved plan's mounts; the error's step is 'mount-volume'.
 * Returns undefined for any other step.
 */
export function mountNotMade(
  err: NativeError,
  mounts: readonly { source: string; target: string; idmap: boolean }[],
): NativeError | undefined {
  const index = /^mount-volume:(\d+)$/.exec(err.step ?? '')?.[1];
  const mount = index === undefined ? undefined : mounts[Number(index)];
  if (mount === undefined) return undefined;
  let why: string = err.code;
  if (err.code === 'ENOTDIR') why = 'not a directory';
  else if (err.code === 'ENOENT') why = 'no such directory';
  else if (err.code === 'EROFS') why = 'read-only file system';
  // mount_setattr refuses an idmap (EINVAL) on a filesystem without idmapped mounts (procfs, NFS, overlayfs)
  else if (mount.idmap && err.syscall === 'mount_setattr' && err.code === 'EINVAL')
    why = "EINVAL (the source's filesystem cannot be idmapped)";
  return new NativeError(`cannot mount ${mount.source} at ${mount.target}: ${err.syscall}: ${why}`, {
    code: err.code,
    step: 'mount-volume',
    ...(err.syscall !== undefined ? { syscall: err.syscall } : {}),
    ...(err.errno !== undefined ? { errno: err.errno } : {}),
    details: { source: mount.source, target: mount.target },
  });
}

/** An execve that failed, said with the command and the paths tried (the user's entrypoint, usually). */
export function commandNotRun(err: NativeError, command: string, tried: string[]): NativeError {
  const paths = tried.length > 1 ? ` (tried ${tried.join(', ')})` : '';
  const why = err.code === 'ENOENT' ? 'not found in the image' : err.code === 'EACCES' ? 'not executable' : err.code;
  return new NativeError(`cannot run ${JSON.stringify(command)}: ${why}${paths}`, {
    code: err.code,
    step: 'exec',
    syscall: 'execve',
    ...(err.errno !== undefined ? { errno: err.errno } : {}),
    details: { command, tried },
  });
}
