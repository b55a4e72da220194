/**
 * What the REST API v1 returns, as JSON carries it (times are ISO-8601 strings). The server
 * builds these, and the CLI, the dashboard and the tests read them.
 */

export const ROLES = ['admin', 'operator', 'viewer'] as const;
/** What a token may do: a viewer reads, an operator also acts on containers and images, an admin also on pools and tokens. */
export type Role = (typeof ROLES)[number];

export const CONTAINER_STATES = ['pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting'] as const;
export type ContainerState = (typeof CONTAINER_STATES)[number];

export const JOB_STATES = ['waiting', 'active', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const LIFECYCLE_KINDS = ['launch', 'start', 'stop', 'restart', 'delete'] as const;
export type LifecycleKind = (typeof LIFECYCLE_KINDS)[number];

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

/** GET /containers/:name. */
export interface ContainerView {
  id: string;
  name: string;
  image: string;
  command: string[];
  state: ContainerState;
  node: string;
  pid: number | null;
  idmap: { isolated: boolean; key: string | null; size: number | null; uid: MapLine[]; gid: MapLine[] };
  limits: ContainerLimits;
  security: { nesting: boolean };
  exitCode: number | null;
  exitSignal: string | null;
  error: ContainerError | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
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
  kind: LifecycleKind;
  container: string;
  node: string;
  state: JobState;
  progress: number;
  error: string | null;
  attempts: number;
  createdAt: string;
  finishedAt: string | null;
}

/** POST /containers/:name/exec. */
export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Output was cut at the server's limit. */
  truncated: boolean;
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
  heartbeatAgeMs: number;
  containers: number;
}

/** A device or FIFO an image tarball held that was not extracted. */
export interface SkippedEntryView {
  path: string;
  type: 'char-device' | 'block-device' | 'fifo';
}

/** One entry of GET /images. */
export interface ImageView {
  name: string;
  sizeBytes: number;
  files: number;
  source: string;
  createdAt: string;
  /** Devices and FIFOs the tarball held, not extracted (/dev is a tmpfs in every container); the first 1000. */
  skipped?: SkippedEntryView[];
  skippedTotal?: number;
}

/** GET /whoami. */
export interface WhoamiView {
  name: string;
  role: Role;
}

/** One entry of GET /tokens: never its secret or hash. */
export interface TokenView {
  id: number;
  name: string;
  role: Role;
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
