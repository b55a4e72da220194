import { join, isAbsolute } from 'node:path';

import { NativeError } from './errors';
import { idMapProblems } from './id-map';
import { resolveInit, DEFAULT_INIT_BINARY } from './init-plan';
import {
  CPU_PERIOD_US,
  DEFAULT_PIDS_MAX,
  limitProblems,
  RLIMIT_RESOURCES,
  rlimitProblems,
  securityProblems,
  type RlimitName,
} from './limits-plan';
import { resolveMounts } from './mount-plan';
import { resolveNetwork } from './network-plan';
import { hasNul, pathProblem } from './plan-checks';
import type { LaunchPlan, PlanHost, ResolvedPlan } from './plan-types';
import { argvProblems, execCandidates, normalizeEnv } from './process-plan';
import { resolveLayers } from './rootfs-plan';
import { runProblems } from './run-plan';
import { WRITABLE_LAYER_DIRS } from './state-dir';

// A launch plan checked whole before any syscall: each part is checked in its own *-plan.ts file,
// and this is where they meet. Also the one import path for all of them.

export type { LaunchPlan, PlanHost, ResolvedPlan } from './plan-types';
export { DEFAULT_PIDS_MAX, RLIMIT_RESOURCES, type ContainerLimits, type ContainerSecurity, type RlimitName } from './limits-plan';
export { MAX_MOUNTS, type ContainerMount, type ResolvedMount } from './mount-plan';
export { MAX_LAYERS } from './rootfs-plan';
export { DEFAULT_PATH, execCandidates, resolveExec } from './process-plan';
export { DEFAULT_INIT_BINARY } from './init-plan';
export { MAX_RUN_OUTPUT_LIMIT_BYTES, MAX_RUN_STDIN_BYTES, MAX_RUN_TIMEOUT_MS } from './run-plan';

const ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Tells whether a string is a valid container id. */
export function isValidContainerId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
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
  const upperDir = plan.upperDir ?? join(containerDir, WRITABLE_LAYER_DIRS.upper);
  const workDir = plan.workDir ?? join(containerDir, WRITABLE_LAYER_DIRS.work);
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
