/** Shapes of the REST API v1 answers the dashboard reads (see /work/shared/DESIGN.md). */

export type Role = 'admin' | 'operator' | 'viewer';
export type ContainerState = 'pending' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed' | 'deleting';
export const CONTAINER_STATES: ContainerState[] = ['pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting'];

export interface Whoami { name: string; role: Role }

export interface MapLine { nsId: number; hostId: number; count: number }

export interface Container {
  id: string;
  name: string;
  image: string;
  command: string[];
  state: ContainerState;
  node: string;
  pid: number | null;
  idmap: { isolated: boolean; key: string | null; size: number | null; uid: MapLine[]; gid: MapLine[] };
  limits: { memoryBytes?: number; pids?: number; cpus?: number } | null;
  exitCode: number | null;
  exitSignal: string | null;
  error: { code: string; message: string; step?: string } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export type JobState = 'waiting' | 'active' | 'completed' | 'failed';
export interface Job {
  id: string;
  kind: 'launch' | 'start' | 'stop' | 'restart' | 'delete';
  container: string;
  node: string;
  state: JobState;
  progress: number;
  error: string | null;
  attempts: number;
  createdAt: string;
  finishedAt: string | null;
}

export interface HostRange { start: number; count: number }

export interface PoolStats {
  total: number; active: number; shared: number; keyed: number; quarantined: number; free: number; outOfPool: number; leases: number;
}
export interface Pool {
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

export interface Allocation {
  pool: string;
  kind: 'isolated' | 'shared' | 'raw';
  state: 'active' | 'quarantined' | 'out_of_pool';
  owner: string | null;
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

export interface NodeInfo {
  name: string;
  heartbeatAt: string;
  startedAt: string;
  version: string;
  online: boolean;
  heartbeatAgeMs: number;
  containers: number;
}

export interface ImageInfo { name: string }

export interface ExecResult { exitCode: number; stdout: string; stderr: string }
