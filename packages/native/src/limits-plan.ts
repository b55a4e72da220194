// A plan's limits: cgroup limits, rlimits and the security options.

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

/** pids.max of a container whose plan sets none: every container has its own bounded pids cgroup. */
export const DEFAULT_PIDS_MAX = 4096;
/** The CFS period of a container's cpu cgroup; its quota is cpus times this. */
export const CPU_PERIOD_US = 100_000;

/** What is wrong with a plan's cgroup limits. */
export function limitProblems(limits: ContainerLimits | undefined): string[] {
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

/** What is wrong with a plan's security options. */
export function securityProblems(security: ContainerSecurity | undefined): string[] {
  if (security === undefined) return [];
  if (typeof security !== 'object' || security === null || Array.isArray(security)) return ['security must be an object'];
  const problems: string[] = [];
  for (const [name, value] of Object.entries(security)) {
    if (name !== 'nesting') problems.push(`security.${name} is not a known option`);
    else if (typeof value !== 'boolean') problems.push('security.nesting must be a boolean');
  }
  return problems;
}

/** What is wrong with a plan's rlimits. */
export function rlimitProblems(rlimits: Partial<Record<RlimitName, number>> | undefined): string[] {
  if (rlimits === undefined) return [];
  const problems: string[] = [];
  for (const [name, value] of Object.entries(rlimits)) {
    if (!(name in RLIMIT_RESOURCES)) problems.push(`rlimits.${name} is not a known rlimit`);
    if (!Number.isSafeInteger(value) || (value as number) < 0) problems.push(`rlimits.${name} must be a non-negative integer`);
  }
  return problems;
}
