import type { IdMapLine } from './id-map';
import type { ContainerLimits, ContainerSecurity, RlimitName } from './limits-plan';
import type { ContainerMount, ResolvedMount } from './mount-plan';
import type { ContainerNetwork, ResolvedNetwork } from './network-plan';

// The shapes of a launch plan: what a caller asks for, and what resolveLaunchPlan hands the launcher.

/** What to launch: everything the launcher needs, validated by resolveLaunchPlan before any syscall. */
export interface LaunchPlan {
  /** Unique among the runtime's containers: [a-z0-9][a-z0-9_.-]{0,62}. */
  id: string;
  /**
   * Image directory (owned by 0..65535 on disk), shared read-only by every container of the
   * image: a one-layer image. Give this or `layers`, not both.
   */
  image?: string;
  /**
   * The image's layer directories, topmost first (overlay's lowerdir order: a file in layers[0]
   * hides the same path in layers[1]). Each is owned by 0..65535 on disk, shared read-only and
   * idmapped, never chowned; 1..MAX_LAYERS of them, no directory twice. Whiteouts are 0:0
   * character devices; an opaque directory carries the xattr user.overlay.opaque=y (the overlay
   * is mounted with userxattr inside the container's user namespace).
   */
  layers?: string[];
  argv: string[];
  /** Environment as KEY=VALUE strings or a record; PATH defaults to the usual one. */
  env?: string[] | Record<string, string>;
  cwd?: string;
  /**
   * Who the command runs as inside the container (the image's User): IDs of the container's own
   * range, 0..65535. Default root (0:0). A non-root user has no capabilities, as in Docker.
   */
  user?: { uid: number; gid: number };
  /** A DNS label; defaults to the id when the id is one. */
  hostname?: string;
  uidMap: IdMapLine[];
  gidMap: IdMapLine[];
  limits?: ContainerLimits;
  rlimits?: Partial<Record<RlimitName, number>>;
  /** Where the container's stdout and stderr go; defaults to <container dir>/console.log. */
  logFile?: string;
  /** Writable layer; defaults to <container dir>/upper (kept across restarts of the same id). */
  upperDir?: string;
  workDir?: string;
  /**
   * 'idmapped' (default): the image is mounted idmapped under the overlay, never chowned.
   * 'shifted': `image` is a private copy already shifted by chown (see prepareShiftedCopy); one
   * layer only.
   */
  rootfsMode?: 'idmapped' | 'shifted';
  security?: ContainerSecurity;
  /** eth0 on a host bridge; absent: loopback only, launched exactly as before. */
  network?: ContainerNetwork;
  /**
   * Docker's --init: PID 1 is the host's static tini (bind-mounted read-only at /sbin/nagaya-init),
   * which runs argv as its child, forwards signals to it, reaps orphans and exits with its code.
   */
  init?: boolean;
  /** Host directories mounted into the container, at most MAX_MOUNTS, each at its own target. */
  mounts?: ContainerMount[];
  /**
   * The launcher kills the container (SIGKILL to its init, whole pid namespace goes) this long
   * after its argv began; the exit then says timedOut. 1 ms to 7 days. Enforced by the launcher's
   * own timer, with or without a Node client, and re-armed by a restarted launcher.
   */
  timeoutMs?: number;
  /**
   * Capture stdout and stderr apart, into <container dir>/stdout and <container dir>/stderr (0600),
   * each kept to its first outputLimitBytes bytes (the rest is counted, not written). 0 to 64 MiB.
   * When set, console.log is not used for the argv's output.
   */
  outputLimitBytes?: number;
  /** Bytes fed to the argv's stdin, then EOF (at most 16 MiB); absent: /dev/null. */
  stdin?: Uint8Array;
}

/** Host facts a plan is resolved against. */
export interface PlanHost {
  /** The init a plan with `init` gets (default DEFAULT_INIT_BINARY): a static executable. */
  initBinary?: string;
}

/** A plan with every default filled in and every path worked out. */
export interface ResolvedPlan {
  id: string;
  containerDir: string;
  /** Layer directories, topmost first; one for a plain image. */
  layers: string[];
  upperDir: string;
  workDir: string;
  rootfsDir: string;
  idmapped: boolean;
  hostname: string;
  argv: string[];
  env: string[];
  cwd: string;
  execCandidates: string[];
  uidMap: IdMapLine[];
  gidMap: IdMapLine[];
  logFile: string;
  memoryBytes: number;
  /** Always set: DEFAULT_PIDS_MAX when the plan has no pids limit. */
  pids: number;
  cpuQuotaUs: number;
  cpuPeriodUs: number;
  rlimits: Array<{ resource: number; value: number }>;
  nesting: boolean;
  runUid: number;
  runGid: number;
  network?: ResolvedNetwork;
  /** Host path of the init run as PID 1 in front of argv; absent: argv is PID 1. */
  initBinary?: string;
  /** Sorted by target, so a mount comes after the mount its target lies in. */
  mounts: ResolvedMount[];
  /** A run's limits and input (see LaunchPlan); absent: a plain container. */
  timeoutMs?: number;
  outputLimitBytes?: number;
  /** Where the launcher reads the stdin bytes from: <container dir>/stdin, written by the runtime. */
  stdinFile?: string;
}
