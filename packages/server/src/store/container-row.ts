import type {
  ContainerError,
  ContainerLimits,
  ContainerState,
  LastExitView,
  NetworkMode,
  PublishView,
  RestartPolicyView,
} from '@nagaya/contract';
import type { ContainerRun } from './container-run';

// The shape of a `container` row as ContainerStore reads and writes it.

export interface IdmapRequest {
  isolated?: boolean;
  size?: number;
  key?: string;
  raw?: Array<{ kind: 'uid' | 'gid' | 'both'; hostId: number; nsId: number; count: number }>;
}

/** Confinement options; the default (all off) is Docker-grade confinement. */
export interface ContainerSecurity {
  /** LXD's security.nesting: the container may create user namespaces. Set by admins only. */
  nesting?: boolean;
}

/** A container's network request (mode none: loopback only). */
export interface ContainerNetwork {
  mode: NetworkMode;
  publish?: PublishView[];
}

/**
 * A mount as the row records it: a volume by id (its directory's name on its node) and by name
 * (what the API shows), or a host directory. What the worker hands the launcher is made from this.
 */
export type ContainerMountRecord =
  | { kind: 'volume'; volume: string; volumeId: string; path: string; readOnly: boolean }
  | { kind: 'host'; hostPath: string; path: string; readOnly: boolean; shift: boolean };

/** service: made by POST /containers; run: the container of one attempt of a run (hidden from GET /containers). */
export type ContainerKind = 'service' | 'run';

/** A container row. */
export interface ContainerRow {
  kind: ContainerKind;
  id: string;
  project: string;
  name: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  limits: ContainerLimits;
  idmap: IdmapRequest;
  security: ContainerSecurity;
  network: ContainerNetwork;
  run: ContainerRun;
  mounts: ContainerMountRecord[];
  pool: string;
  node: string;
  state: ContainerState;
  pid: number | null;
  startTime: string | null;
  exitCode: number | null;
  exitSignal: string | null;
  error: ContainerError | null;
  restartPolicy: RestartPolicyView;
  /** Restarts by the policy, in all. */
  restartCount: number;
  /** Restarts in a row, none of whose runs lasted 10 s: the backoff's exponent. */
  restartStreak: number;
  lastExit: LastExitView | null;
  /** A user's stop: always and unless-stopped leave the container alone until a start. */
  stoppedByUser: boolean;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
}

/** Every column of `container`, named as ContainerRow names it, so rows need no mapping (a SELECT or RETURNING list). */
export const CONTAINER_COLUMNS = `id, project, name, image, command, env, limits, idmap, security, network, run, mounts, pool, node, state, pid, start_time AS "startTime",
  exit_code AS "exitCode", exit_signal AS "exitSignal", error, created_at AS "createdAt", started_at AS "startedAt",
  finished_at AS "finishedAt", updated_at AS "updatedAt", restart_policy AS "restartPolicy", restart_count AS "restartCount",
  restart_streak AS "restartStreak", last_exit AS "lastExit", stopped_by_user AS "stoppedByUser", kind`;
