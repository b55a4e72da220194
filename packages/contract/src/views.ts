/**
 * What the REST API v1 returns, as JSON carries it (times are ISO-8601 strings). The server
 * builds these, and the CLI, the dashboard and the tests read them.
 */

import type { NetworkMode, PublishProtocol } from './network';
import type { ContainerMountView } from './volumes';

export const ROLES = ['admin', 'operator', 'viewer'] as const;
/** What a token may do: a viewer reads, an operator also acts on containers and images, an admin also on pools and tokens. */
export type Role = (typeof ROLES)[number];

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

/** What a node is: taking containers, draining (no new ones), offline, or removed by an admin. */
export const NODE_STATUSES = ['active', 'draining', 'offline', 'removed'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

export const JOB_STATES = ['waiting', 'active', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const LIFECYCLE_KINDS = ['launch', 'start', 'stop', 'restart', 'delete'] as const;
export type LifecycleKind = (typeof LIFECYCLE_KINDS)[number];

/** Every kind of job: a container's lifecycle, or an image pull. */
export const JOB_KINDS = [...LIFECYCLE_KINDS, 'pull'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** One line of /proc/<pid>/uid_map or gid_map: [nsId, nsId+count) inside is [hostId, hostId+count) on the host. */
export interface MapLine {
  nsId: number;
  hostId: number;
  count: number;
}

/** A range of host IDs, [start, start+count). */
export interface HostRange {
  start: number;
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

/** A job's id, as create and the container actions return it. */
export interface JobRef {
  id: string;
}

/** POST /containers. */
export interface CreatedContainerView {
  container: ContainerView;
  job: JobRef;
}

/** GET /jobs/:id. */
export interface JobView {
  id: string;
  /** The project of the job's container or image (null for a job whose container row was gone when it was queued). */
  project: string | null;
  kind: JobKind;
  /** The container a lifecycle job acts on; null for a pull. */
  container: string | null;
  /** The image a pull makes (name[:tag]); null for a lifecycle job. */
  image: string | null;
  node: string;
  state: JobState;
  /** 0..100 (a pull: of its layers' bytes). */
  progress: number;
  /** A pull: layer bytes fetched so far and in all (null before the manifest is read, and for lifecycle jobs). */
  bytesDone: number | null;
  bytesTotal: number | null;
  error: string | null;
  attempts: number;
  createdAt: string;
  finishedAt: string | null;
}

/** POST /images/pull: the job that pulls, and the image it will make. */
export interface ImagePullView {
  job: JobRef;
  image: { project: string; name: string };
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

/** Slot counts of a pool. */
export interface PoolStats {
  pool: string;
  sliceSize: number;
  /** Slots wholly inside the pool. */
  total: number;
  /** Slots leased to isolated containers. */
  active: number;
  /** The slot of the non-isolated shared slice (0 or 1). */
  shared: number;
  /** Released slots reserved for their sticky key. */
  keyed: number;
  /** Released slots still cooling down. */
  quarantined: number;
  /** Slots that can be handed out now. */
  free: number;
  /** Leased slots the pool shrank away from (kept until released). */
  outOfPool: number;
  /** Owners holding a lease. */
  leases: number;
}

/** GET /pools/:name. */
export interface PoolView {
  name: string;
  source: string;
  uid: HostRange[];
  gid: HostRange[];
  uidOrigin: number;
  gidOrigin: number;
  sliceSize: number;
  quarantineSeconds: number;
  rawAllowed: { uid: HostRange[]; gid: HostRange[] };
  slices: PoolStats;
}

/** One entry of GET /allocations: who holds which host range. */
export interface AllocationView {
  pool: string;
  /** The owning container's project (null: no owner, or the shared slice of several projects). */
  project: string | null;
  kind: 'isolated' | 'shared' | 'raw';
  state: 'active' | 'quarantined' | 'out_of_pool';
  /** The owning container's id. */
  owner: string | null;
  /** The owning container's name. */
  container: string | null;
  sharedBy?: string[];
  slot: number | null;
  slots: number | null;
  uid: HostRange | null;
  gid: HostRange | null;
  nsUid: number | null;
  nsGid: number | null;
  key: string | null;
  createdAt: string;
  releasedAt: string | null;
}

/** One entry of GET /nodes. */
export interface NodeView {
  name: string;
  heartbeatAt: string;
  startedAt: string;
  version: string;
  info: Record<string, unknown>;
  online: boolean;
  /** active, draining, offline or removed; a silent node (heartbeat too old) is offline. */
  status: NodeStatus;
  /** When it stopped taking new containers (draining), or null. */
  drainingAt: string | null;
  heartbeatAgeMs: number;
  containers: number;
}

/** POST /nodes/{name}/evacuate. */
export interface EvacuationView {
  node: string;
  status: NodeStatus;
  /** Pending and stopped containers placed on another node. */
  moved: Array<{ project: string; name: string; to: string }>;
  /** Containers that still run there (they are not moved). */
  running: Array<{ project: string; name: string; state: ContainerState }>;
}

/** POST /nodes/{name}/remove. */
export interface NodeRemovalView {
  node: string;
  status: NodeStatus;
  /** Containers recorded as lost, their slices fenced (unless released). */
  lost: Array<{ project: string; name: string }>;
  /** Owners (container ids) whose fenced slices were given back. */
  released: string[];
  moved: Array<{ project: string; name: string; to: string }>;
}

/** One entry of GET /networks: a node's subnet and how much of it is used. */
export interface NetworkView {
  node: string;
  /** The node's subnet, carved from the fleet's network (NAGAYA_NETWORK_CIDR). */
  cidr: string;
  gateway: string;
  bridge: string;
  addresses: { total: number; leased: number; free: number };
  /** Host ports reserved on the node by published ports. */
  hostPorts: number;
  createdAt: string;
}

/** One layer of an image, content-addressed by its uncompressed digest. */
export interface ImageLayerView {
  diffId: string;
  sizeBytes: number;
}

/** What a launch of the image runs unless the create says otherwise (from the image config). */
export interface ImageRunDefaultsView {
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: string[];
  workingDir: string | null;
  user: string | null;
}

/** One entry of GET /images. */
export interface ImageView {
  project: string;
  /** name[:tag] */
  name: string;
  /** directory (one tree: busybox, rootfs uploads of earlier releases), rootfs, oci-layout, docker-save, docker-save-oci, registry */
  format: string;
  /** The manifest's digest; null for a directory image. */
  digest: string | null;
  sizeBytes: number;
  files: number;
  source: string;
  /** Where a pulled image came from. */
  reference: string | null;
  /** Bottom first. */
  layers: ImageLayerView[];
  config: ImageRunDefaultsView;
  /** The nodes that hold every layer of it (a launch elsewhere pulls it from the fleet's registry first). */
  nodes: string[];
  createdAt: string;
}

/** GET /whoami. */
export interface WhoamiView {
  name: string;
  role: Role;
  /** The token's project; null: an admin token that spans every project. */
  project: string | null;
}

/** One entry of GET /tokens: never its secret or hash. */
export interface TokenView {
  id: number;
  name: string;
  role: Role;
  /** null: an admin token that spans every project. */
  project: string | null;
  createdAt: string;
  /** null: never expires. */
  expiresAt: string | null;
  /** Updated at most once a minute. */
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** POST /tokens: the secret, shown this once. */
export interface CreatedTokenView extends TokenView {
  token: string;
}

/** GET /healthz. */
export interface HealthView {
  status: 'ok' | 'unavailable';
  dependencies: Record<string, 'ok' | 'down'>;
  error?: { code: 'UNAVAILABLE'; message: string };
}

/**
 * What a project may hold, each optional (absent: no limit). Sums are over every container of the
 * project whatever its state, as LXD counts them: a stopped container keeps its claim.
 */
export const QUOTA_NAMES = ['containers', 'slices', 'memoryBytes', 'cpus', 'processes', 'diskBytes', 'networkInterfaces'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

/** What each quota counts, for help texts and the dashboard. */
export const QUOTA_MEANINGS: Record<QuotaName, string> = {
  containers: 'containers, in any state',
  slices: "65536-ID slots of the containers' isolated slices",
  memoryBytes: "sum of the containers' memory limits",
  cpus: "sum of the containers' CPU limits",
  processes: "sum of the containers' pids limits",
  diskBytes: "bytes of the project's images",
  networkInterfaces: 'network interfaces (one per container in network mode bridge)',
};

/** One quota of GET /projects/:name: its limit (null: none) and what the project uses now. */
export interface QuotaUse {
  limit: number | null;
  used: number;
}

/** GET /projects/:name. */
export interface ProjectView {
  name: string;
  description: string;
  /** Containers of this project may ask for idmap.raw (host IDs mapped straight in). */
  rawIdmapAllowed: boolean;
  quotas: Record<QuotaName, QuotaUse>;
  createdAt: string;
}

/** The details of a QUOTA_EXCEEDED error. */
export interface QuotaExceededDetails {
  project: string;
  quota: QuotaName;
  limit: number;
  used: number;
  requested: number;
}

/** One entry of GET /audit: who did what, in which project, to which target. */
export interface AuditEventView {
  id: number;
  at: string;
  actor: string;
  /** null: a fleet-wide action (pools, nodes, projects themselves, global tokens). */
  project: string | null;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
}
