import type { NetworkMode, PublishProtocol } from './network';
import type { ContainerMountView } from './volumes';
import type { JobRef } from './job-views';

// What /containers returns: a container, its state, network, restart policy and last exit, and
// what exec, stats and logs give back.

/**
 * `lost`: it ran on a node an admin removed as dead (its slice stays fenced). `unknown` is never
 * stored: the API shows it for a container whose row says it runs on a node that is offline.
 */
export const CONTAINER_STATES = [
  'pending',
  'starting',
  'running',
  'stopping',
  'stopped',
  'failed',
  'restarting',
  'deleting',
  'lost',
  'unknown',
] as const;
export type ContainerState = (typeof CONTAINER_STATES)[number];

/** One line of /proc/<pid>/uid_map or gid_map: [nsId, nsId+count) inside is [hostId, hostId+count) on the host. */
export interface MapLine {
  nsId: number;
  hostId: number;
  count: number;
}

export interface ContainerLimits {
  memoryBytes?: number;
  pids?: number;
  cpus?: number;
}

/** Why a container failed: a stable code, and for launcher failures the step and syscall. */
export interface ContainerError {
  code: string;
  message: string;
  step?: string;
  syscall?: string;
}

/** A published port as the container's request gave it. */
export interface PublishView {
  hostPort: number;
  containerPort: number;
  protocol: PublishProtocol;
  hostIp?: string;
}

/** A container's network; ip, mac, gateway and bridge are null while it holds no address (mode none, or not running). */
export interface ContainerNetworkView {
  mode: NetworkMode;
  ip: string | null;
  mac: string | null;
  gateway: string | null;
  bridge: string | null;
  publish: PublishView[];
}

/** GET /containers/:name. */
export interface ContainerView {
  id: string;
  /** The project the container belongs to; its name is unique within it. */
  project: string;
  name: string;
  image: string;
  command: string[];
  state: ContainerState;
  /** The state its row records, when `state` is `unknown` (its node is offline); else null. */
  lastState: ContainerState | null;
  node: string;
  pid: number | null;
  idmap: { isolated: boolean; key: string | null; size: number | null; uid: MapLine[]; gid: MapLine[] };
  limits: ContainerLimits;
  security: { nesting: boolean };
  network: ContainerNetworkView;
  /** Volumes and host directories it mounts, in the order of its create. */
  mounts: ContainerMountView[];
  exitCode: number | null;
  exitSignal: string | null;
  error: ContainerError | null;
  restartPolicy: RestartPolicyView;
  /** Restarts by its policy since its creation (a user's start or restart does not count). */
  restartCount: number;
  /** How the run before the current one ended (null before the first end). */
  lastExit: LastExitView | null;
  /** tini as PID 1: forwards signals, reaps zombies. */
  init: boolean;
  /** What a stop sends first (SIGKILL follows after stopTimeoutSeconds). */
  stopSignal: string;
  stopTimeoutSeconds: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** The signals a stop may send first: what services commonly stop on (Docker's STOPSIGNAL values in practice). */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGKILL'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

export const RESTART_POLICIES = ['no', 'on-failure', 'always', 'unless-stopped'] as const;
export type RestartPolicyName = (typeof RESTART_POLICIES)[number];

/** Docker's restart policies; maxRetries only with on-failure (absent: no limit). */
export interface RestartPolicyView {
  name: RestartPolicyName;
  maxRetries?: number;
}

export interface LastExitView {
  exitCode: number | null;
  signal: string | null;
  finishedAt: string;
  error: ContainerError | null;
}

/** GET /containers/:name/env: the environment it runs with, its image's and its create's (operators only: values may be secrets). */
export interface ContainerEnvView {
  env: Record<string, string>;
}

/** POST /containers. */
export interface CreatedContainerView {
  container: ContainerView;
  job: JobRef;
}

/** POST /containers/:name/exec. */
export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** How stdout and stderr are written: as text (utf8) or as base64 of their bytes, as the request asked. */
  encoding: 'utf8' | 'base64';
  timedOut: boolean;
  /** Output was cut at the server's limit (NAGAYA_EXEC_OUTPUT_LIMIT_BYTES, per stream). */
  truncated: boolean;
}

/** GET /containers/:name/stats: what a running container uses now, read on its node. */
export interface ContainerStatsView {
  name: string;
  /** When it was read (ms since the epoch). */
  at: number;
  /** Memory charged to its cgroup now (page cache and tmpfs included); null when no cgroup of it counts memory. */
  memoryBytes: number | null;
  /** The most memory charged to it at once since it started. */
  memoryPeakBytes: number | null;
  /** Its memory limit, if it has one. */
  memoryLimitBytes: number | null;
  /** CPU time of all its processes since it started (user and system). */
  cpuSeconds: number | null;
  /** Processes and threads in it now. */
  pids: number | null;
  pidsLimit: number | null;
  /** Bytes its writable layer takes on disk (what it wrote, copied up or whited out over its image); measured at most every 5 s. */
  writableLayerBytes: number | null;
}

/** GET /containers/:name/logs. */
export interface LogsView {
  log: string;
  truncated: boolean;
}
