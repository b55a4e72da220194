import { statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';

import { NativeError } from './errors';
import { idMapProblems, type IdMapLine } from './id-map';
import { resolveNetwork, type ContainerNetwork, type ResolvedNetwork } from './network-plan';

/** Resource limits applied through the container's cgroups. */
export interface ContainerLimits {
  memoryBytes?: number;
  pids?: number;
  cpus?: number;
}

/** Confinement options; every container runs with Docker's default capabilities and a seccomp filter. */
export interface ContainerSecurity {
  /**
   * LXD's security.nesting: the container may create user namespaces (clone or unshare with
   * CLONE_NEWUSER as the only namespace flag), to run containers of its own. Every other
   * namespace, mount and the rest of the filter stay refused. For trusted workloads only.
   */
  nesting?: boolean;
}

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

/** Process rlimits; they can only be lowered (root here lacks CAP_SYS_RESOURCE). */
export const RLIMIT_RESOURCES = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  as: 9,
} as const;
export type RlimitName = keyof typeof RLIMIT_RESOURCES;

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

/** Longest run timeout: 7 days. */
export const MAX_RUN_TIMEOUT_MS = 7 * 24 * 3600 * 1000;
/** Most output kept of each of a run's stdout and stderr. */
export const MAX_RUN_OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024;
/** Most stdin a run may be given. */
export const MAX_RUN_STDIN_BYTES = 16 * 1024 * 1024;

/** What is wrong with a plan's run options (timeoutMs, outputLimitBytes, stdin). */
function runProblems(plan: LaunchPlan): string[] {
  const problems: string[] = [];
  const inRange = (value: unknown, min: number, max: number) =>
    Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
  if (plan.timeoutMs !== undefined && !inRange(plan.timeoutMs, 1, MAX_RUN_TIMEOUT_MS))
    problems.push(`timeoutMs must be an integer from 1 to ${MAX_RUN_TIMEOUT_MS}`);
  if (plan.outputLimitBytes !== undefined && !inRange(plan.outputLimitBytes, 0, MAX_RUN_OUTPUT_LIMIT_BYTES))
    problems.push(`outputLimitBytes must be an integer from 0 to ${MAX_RUN_OUTPUT_LIMIT_BYTES}`);
  if (plan.stdin !== undefined) {
    if (!(plan.stdin instanceof Uint8Array)) problems.push('stdin must be a Buffer');
    else if (plan.stdin.byteLength > MAX_RUN_STDIN_BYTES) problems.push(`stdin must be at most ${MAX_RUN_STDIN_BYTES} bytes`);
  }
  return problems;
}

/** pids.max of a container whose plan sets none: every container has its own bounded pids cgroup. */
export const DEFAULT_PIDS_MAX = 4096;
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CPU_PERIOD_US = 100_000;
/** Debian's tini (package tini), statically linked so it runs in any image. */
export const DEFAULT_INIT_BINARY = '/usr/bin/tini-static';
const ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const MAX_EXEC_CANDIDATES = 16;
/** Most layers of one image (overlay takes 500; the launcher passes every layer fd in one message). */
export const MAX_LAYERS = 128;
/** Room for "/proc/<pid>/root" in front of a layer path within the launcher's buffer. */
const MAX_LAYER_PATH = 4000;
/** Most mounts of one container (the launcher hands each over as an fd with the layers'). */
export const MAX_MOUNTS = 32;
/** PATH_MAX, in bytes, for a mount's source and target. */
const MAX_MOUNT_PATH = 4096;
/** Where the launcher mounts the kernel's filesystems: a mount there would hide them or be hidden. */
const RESERVED_TARGETS = ['/proc', '/sys', '/dev'];

/** Tells whether a string is a valid container id. */
export function isValidContainerId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

function hasNul(s: string): boolean {
  return s.includes('\0');
}

/** Checks a path the launcher will put into overlay options or mount calls. */
function pathProblem(name: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return `${name} must be a non-empty string`;
  if (!isAbsolute(value)) return `${name} must be an absolute path`;
  if (/[\0\n,:\\]/.test(value)) return `${name} must not contain NUL, newline, ',', ':' or '\\' (overlay options)`;
  if (value.length > 1024) return `${name} is too long`;
  return undefined;
}

function normalizeEnv(env: LaunchPlan['env'], problems: string[], what = 'env'): string[] {
  let entries: string[];
  if (env === undefined) entries = [];
  else if (Array.isArray(env)) entries = env;
  else if (typeof env === 'object' && env !== null) entries = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  else {
    problems.push(`${what} must be an array of KEY=VALUE strings or a record`);
    return [];
  }
  for (const e of entries) {
    if (typeof e !== 'string' || hasNul(e) || e.indexOf('=') <= 0) problems.push(`${what} entry ${JSON.stringify(e)} is not KEY=VALUE`);
  }
  if (!entries.some((e) => typeof e === 'string' && e.startsWith('PATH='))) entries = [`PATH=${DEFAULT_PATH}`, ...entries];
  return entries;
}

function argvProblems(argv: unknown, what = 'argv'): string[] {
  if (!Array.isArray(argv) || argv.length === 0) return [`${what} must be a non-empty array of strings`];
  const problems: string[] = [];
  argv.forEach((a, i) => {
    if (typeof a !== 'string' || hasNul(a)) problems.push(`${what}[${i}] must be a string without NUL`);
  });
  if (typeof argv[0] === 'string' && argv[0].length === 0) problems.push(`${what}[0] must not be empty`);
  return problems;
}

/** Lists the paths execve should try for argv[0], searching PATH from env like execvp would. */
export function execCandidates(argv0: string, env: readonly string[]): string[] {
  if (argv0.includes('/')) return [argv0];
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const dirs = path.split(':').filter((d) => d.startsWith('/'));
  return dirs.slice(0, MAX_EXEC_CANDIDATES).map((d) => `${d.replace(/\/+$/, '')}/${argv0}`);
}

function limitProblems(limits: ContainerLimits | undefined): string[] {
  if (limits === undefined) return [];
  if (typeof limits !== 'object' || limits === null) return ['limits must be an object'];
  const problems: string[] = [];
  const { memoryBytes, pids, cpus } = limits;
  if (memoryBytes !== undefined && (!Number.isSafeInteger(memoryBytes) || memoryBytes < 4 * 1024 * 1024)) {
    problems.push('limits.memoryBytes must be an integer of at least 4 MiB');
  }
  if (pids !== undefined && (!Number.isSafeInteger(pids) || pids < 1)) problems.push('limits.pids must be a positive integer');
  if (cpus !== undefined && (typeof cpus !== 'number' || !Number.isFinite(cpus) || cpus < 0.01 || cpus > 4096)) {
    problems.push('limits.cpus must be a number between 0.01 and 4096');
  }
  return problems;
}

function securityProblems(security: LaunchPlan['security']): string[] {
  if (security === undefined) return [];
  if (typeof security !== 'object' || security === null || Array.isArray(security)) return ['security must be an object'];
  const problems: string[] = [];
  for (const [name, value] of Object.entries(security)) {
    if (name !== 'nesting') problems.push(`security.${name} is not a known option`);
    else if (typeof value !== 'boolean') problems.push('security.nesting must be a boolean');
  }
  return problems;
}

function rlimitProblems(rlimits: LaunchPlan['rlimits']): string[] {
  if (rlimits === undefined) return [];
  const problems: string[] = [];
  for (const [name, value] of Object.entries(rlimits)) {
    if (!(name in RLIMIT_RESOURCES)) problems.push(`rlimits.${name} is not a known rlimit`);
    if (!Number.isSafeInteger(value) || (value as number) < 0) problems.push(`rlimits.${name} must be a non-negative integer`);
  }
  return problems;
}

/**
 * Checks a layer path and returns its directory's identity (dev:ino), or a problem. The path is
 * handed to the launcher as is and opened there, never put into overlay options.
 */
function checkLayer(name: string, value: unknown): { identity: string } | { problem: string } {
  if (typeof value !== 'string' || value.length === 0) return { problem: `${name} must be a non-empty string` };
  if (!isAbsolute(value)) return { problem: `${name} must be an absolute path` };
  if (hasNul(value)) return { problem: `${name} must not contain NUL` };
  if (value.length > MAX_LAYER_PATH) return { problem: `${name} is too long` };
  try {
    const st = statSync(value);
    if (!st.isDirectory()) return { problem: `${name} ${value} is not a directory` };
    return { identity: `${st.dev}:${st.ino}` };
  } catch {
    return { problem: `${name} ${value} does not exist` };
  }
}

/** The plan's layers, topmost first: `image` as one layer, or `layers` checked one by one. */
function resolveLayers(plan: LaunchPlan, problems: string[]): string[] {
  if (plan.layers === undefined) {
    const checked = checkLayer('image', plan.image);
    if ('problem' in checked) problems.push(plan.image === undefined ? 'image or layers is required' : checked.problem);
    return [plan.image as string];
  }
  if (plan.image !== undefined) problems.push('give image or layers, not both');
  if (!Array.isArray(plan.layers) || plan.layers.length === 0 || plan.layers.length > MAX_LAYERS) {
    problems.push(`layers must be an array of 1 to ${MAX_LAYERS} directories`);
    return [];
  }
  const seen = new Map<string, number>(); // the same directory by any path
  plan.layers.forEach((layer, i) => {
    const checked = checkLayer(`layers[${i}]`, layer);
    if ('problem' in checked) problems.push(checked.problem);
    else if (seen.has(checked.identity)) problems.push(`layers[${i}] is the same directory as layers[${seen.get(checked.identity)}]`);
    else seen.set(checked.identity, i);
  });
  if (plan.rootfsMode === 'shifted' && plan.layers.length > 1) problems.push("rootfsMode 'shifted' takes one layer only");
  return [...plan.layers];
}

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
function resolveMounts(mounts: LaunchPlan['mounts'], problems: string[]): ResolvedMount[] {
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

/**
 * The init binary of a plan that asks for one, or a problem: a host without it is refused, never
 * taken as a plan without an init.
 */
function resolveInit(init: unknown, initBinary: string, problems: string[]): string | undefined {
  if (init === undefined || init === false) return undefined;
  if (init !== true) {
    problems.push('init must be a boolean');
    return undefined;
  }
  const problem = pathProblem('initBinary', initBinary);
  if (problem) {
    problems.push(problem);
    return undefined;
  }
  let st: Stats;
  try {
    st = statSync(initBinary);
  } catch {
    problems.push(`init needs ${initBinary} on this host (Debian's package tini), and it is missing`);
    return undefined;
  }
  // The child clones it as the container's host uid, and the container's user runs it: both are
  // "others" to the host's root, who owns it.
  if (!st.isFile() || (st.mode & 0o001) === 0) problems.push(`init: ${initBinary} must be a file every user may execute`);
  else if (!searchableByAll(dirname(initBinary)))
    problems.push(`init: every directory above ${initBinary} must be searchable by every user`);
  else return initBinary;
  return undefined;
}

/** Tells whether every user may walk through dir and each directory above it. */
function searchableByAll(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (d === dirname(d)) return true;
  }
}

/**
 * Validates a launch plan and fills in defaults, without touching anything but stat() of the
 * image's layers (and of the init binary). Throws NativeError INVALID_PLAN listing every problem found.
 */
export function resolveLaunchPlan(plan: LaunchPlan, stateDir: string, host: PlanHost = {}): ResolvedPlan {
  const problems: string[] = [];
  if (typeof plan !== 'object' || plan === null) {
    throw new NativeError('invalid launch plan: not an object', { code: 'INVALID_PLAN', details: ['plan must be an object'] });
  }
  if (!isValidContainerId(plan.id)) problems.push('id must match [a-z0-9][a-z0-9_.-]{0,62}');
  const containerDir = join(stateDir, 'containers', String(plan.id));

  const layers = resolveLayers(plan, problems);
  problems.push(...argvProblems(plan.argv));
  const env = normalizeEnv(plan.env, problems);
  if (plan.user !== undefined) {
    const inRange = (id: unknown) => Number.isInteger(id) && (id as number) >= 0 && (id as number) <= 65535;
    if (!inRange(plan.user.uid) || !inRange(plan.user.gid)) problems.push('user.uid and user.gid must be integers from 0 to 65535');
  }
  const cwd = plan.cwd ?? '/';
  if (typeof cwd !== 'string' || !isAbsolute(cwd) || hasNul(cwd)) problems.push('cwd must be an absolute path');

  const hostname = plan.hostname ?? (DNS_LABEL.test(String(plan.id)) ? String(plan.id) : 'container');
  if (typeof hostname !== 'string' || !DNS_LABEL.test(hostname))
    problems.push('hostname must be a DNS label (1-63 letters, digits, hyphens)');

  problems.push(...idMapProblems('uid', plan.uidMap), ...idMapProblems('gid', plan.gidMap));
  problems.push(...limitProblems(plan.limits), ...rlimitProblems(plan.rlimits), ...securityProblems(plan.security));

  const logFile = plan.logFile ?? join(containerDir, 'console.log');
  const upperDir = plan.upperDir ?? join(containerDir, 'upper');
  const workDir = plan.workDir ?? join(containerDir, 'work');
  for (const [name, value] of [
    ['logFile', logFile],
    ['upperDir', upperDir],
    ['workDir', workDir],
    ['stateDir', stateDir],
  ] as const) {
    const p = pathProblem(name, value);
    if (p) problems.push(p);
  }
  if (plan.rootfsMode !== undefined && plan.rootfsMode !== 'idmapped' && plan.rootfsMode !== 'shifted') {
    problems.push("rootfsMode must be 'idmapped' or 'shifted'");
  }
  const initBinary = resolveInit(plan.init, host.initBinary ?? DEFAULT_INIT_BINARY, problems);
  const network = resolveNetwork(plan.network, { stateDir, id: String(plan.id), hostname: String(hostname) }, problems);
  const mounts = resolveMounts(plan.mounts, problems);
  problems.push(...runProblems(plan));
  if (problems.length > 0) {
    throw new NativeError(`invalid launch plan: ${problems.join('; ')}`, { code: 'INVALID_PLAN', details: problems });
  }

  const cpus = plan.limits?.cpus;
  return {
    id: plan.id,
    containerDir,
    layers,
    upperDir,
    workDir,
    // The mountpoint is only used inside each container's private mount namespace, so every
    // container shares the same empty directory (one fewer mkdir per launch).
    rootfsDir: join(stateDir, 'mnt', 'rootfs'),
    idmapped: plan.rootfsMode !== 'shifted',
    hostname,
    argv: [...plan.argv],
    env,
    cwd,
    execCandidates: execCandidates(plan.argv[0], env),
    uidMap: plan.uidMap.map((l) => ({ ...l })),
    gidMap: plan.gidMap.map((l) => ({ ...l })),
    logFile,
    memoryBytes: plan.limits?.memoryBytes ?? 0,
    pids: plan.limits?.pids ?? DEFAULT_PIDS_MAX,
    cpuQuotaUs: cpus === undefined ? 0 : Math.max(1000, Math.round(cpus * CPU_PERIOD_US)),
    cpuPeriodUs: CPU_PERIOD_US,
    rlimits: Object.entries(plan.rlimits ?? {}).map(([name, value]) => ({
      resource: RLIMIT_RESOURCES[name as RlimitName],
      value: value as number,
    })),
    nesting: plan.security?.nesting === true,
    runUid: plan.user?.uid ?? 0,
    runGid: plan.user?.gid ?? 0,
    ...(network ? { network } : {}),
    ...(initBinary ? { initBinary } : {}),
    mounts,
    ...(plan.timeoutMs !== undefined ? { timeoutMs: plan.timeoutMs } : {}),
    ...(plan.outputLimitBytes !== undefined ? { outputLimitBytes: plan.outputLimitBytes } : {}),
    ...(plan.stdin !== undefined ? { stdinFile: join(containerDir, 'stdin') } : {}),
  };
}

/** Validates the arguments of an exec and returns its env and exec candidates. */
export function resolveExec(argv: string[], env: LaunchPlan['env'] | undefined, cwd: string | undefined) {
  const problems = argvProblems(argv);
  const resolvedEnv = normalizeEnv(env, problems);
  const resolvedCwd = cwd ?? '/';
  if (typeof resolvedCwd !== 'string' || !isAbsolute(resolvedCwd) || hasNul(resolvedCwd)) problems.push('cwd must be an absolute path');
  if (problems.length > 0) {
    throw new NativeError(`invalid exec: ${problems.join('; ')}`, { code: 'INVALID_ARGUMENT', details: problems });
  }
  return { env: resolvedEnv, cwd: resolvedCwd, execCandidates: execCandidates(argv[0], resolvedEnv) };
}
