import type { LifecycleKind } from '@nagaya/contract';

/** Requests a node answers at once (exec, logs, its volumes' directories): BullMQ is the way to reach the right node. */
export type RpcKind = RpcJobData['kind'];

export interface LifecycleJobData {
  kind: LifecycleKind;
  containerId: string;
  containerName: string;
  /** stop and restart: seconds between SIGTERM and SIGKILL */
  timeoutSeconds?: number;
  /**
   * start: a restart by the container's policy. It starts only the row it was queued for: still
   * `restarting`, at `restartCount`, and not stopped by a user since (a user's start or restart
   * resets the count, so this job then finds nothing to do).
   */
  byPolicy?: true;
  restartCount?: number;
  /** stop and delete: when the stop signal went (the job then waits for the exit as a delayed job, not in a worker slot). */
  stopSentAt?: number;
}

/**
 * A pull of an image from a registry into a node's store. `auth` lives only here, in the job's
 * data in Redis, for as long as the job runs: it is never written to Postgres or to a log, and
 * the worker removes it from the job once the job ends (BullMQ keeps finished jobs a while).
 */
export interface PullJobData {
  kind: 'pull';
  project: string;
  /** The image's name here (name[:tag]). */
  name: string;
  reference: string;
  auth?: { username: string; password: string };
  /** Set when the pull ended and its credentials were removed: a retry of it would pull without them. */
  credentialsDropped?: boolean;
}

/** Progress of a pull, as the worker reports it through job.updateProgress. */
export interface PullProgress {
  bytesDone: number;
  bytesTotal: number;
}

export interface ExecJobData {
  kind: 'exec';
  containerId: string;
  command: string[];
  env?: Record<string, string>;
  /** The container's working directory and user (from its image, or its create): an exec runs as its first process does. */
  cwd?: string;
  user?: { uid: number; gid: number };
  timeoutMs?: number;
  /** base64 carries the exact bytes (a job's answer is JSON); absent: utf8 text. */
  encoding?: 'utf8' | 'base64';
}

/**
 * Starts an interactive exec session relayed over Redis pub/sub (`<channel>:out` from the node,
 * `<channel>:in` to it; the API subscribed to :out first): answered once the command runs.
 */
export interface ExecSessionJobData extends ExecSessionStart {
  kind: 'exec-session';
  containerId: string;
  channel: string;
}

/** What an interactive exec session asks for (GET /containers/:name/exec over WebSocket). */
export interface ExecSessionStart {
  command: string[];
  env?: Record<string, string>;
  cwd?: string;
  user?: { uid: number; gid: number };
  tty: boolean;
  rows: number;
  cols: number;
}

export interface LogsJobData {
  kind: 'logs';
  containerId: string;
  /** Only the last this many whole lines (within maxBytes). */
  tailLines?: number;
  /** Only lines seen at or after this time: nanoseconds since the epoch, as a decimal string. */
  sinceNs?: string;
  timestamps?: boolean;
  maxBytes: number;
}

/**
 * Starts streaming a container's log to a Redis pub/sub channel (the API subscribed to it first):
 * answered at once; the node's LogFollowers publishes until the container exits or nobody listens.
 */
export interface LogsFollowJobData {
  kind: 'logs-follow';
  containerId: string;
  channel: string;
  /** Resume at this position (a line's end, from a Last-Event-ID): tailLines and sinceNs then do not apply. */
  from?: number;
  tailLines?: number;
  sinceNs?: string;
}

/** Reads a running container's usage from its cgroups and its writable layer's size, on its node. */
export interface StatsJobData {
  kind: 'stats';
  containerId: string;
}

/** Makes a volume's directory on its node (with its size limit, if it has one). */
export interface VolumeCreateJobData {
  kind: 'volume-create';
  project: string;
  id: string;
  quota?: { id: number; bytes: number };
}

/** Removes a volume's directory from its node. */
export interface VolumeRemoveJobData {
  kind: 'volume-remove';
  project: string;
  id: string;
}

/** Measures volumes' directories on their node (du): bytes by volume id, null for a missing one. */
export interface VolumeUsageJobData {
  kind: 'volume-usage';
  volumes: Array<{ project: string; id: string }>;
}

export type VolumeJobData = VolumeCreateJobData | VolumeRemoveJobData | VolumeUsageJobData;

/** What a running run has written so far (its node's capture files). */
export interface RunOutputJobData {
  kind: 'run-output';
  containerId: string;
}

/** A run's output so far, base64 (a Buffer would cross Redis as a JSON array of numbers). */
export interface RunOutputSoFar {
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

/**
 * Starts reading one regular file (or a directory, as a tar) of a running container: answered
 * with its head (FileReadStart) once the extractor has opened it; its bytes then go out on
 * `<channel>:api` (see file-transfer-wire.ts).
 */
export interface FilesReadJobData {
  kind: 'files-read';
  containerId: string;
  /** Absolute and normalised (no `..`), resolved beneath the container's root. */
  path: string;
  maxBytes: number;
  channel: string;
}

/**
 * Starts unpacking a tar into an existing directory of a running container: answered once the
 * extractor runs; the tar then comes in on `<channel>:node` and the outcome goes out on `<channel>:api`.
 */
export interface FilesWriteJobData {
  kind: 'files-write';
  containerId: string;
  /** Absolute and normalised (no `..`), resolved beneath the container's root. */
  dir: string;
  maxBytes: number;
  channel: string;
}

export type RpcJobData =
  | ExecJobData
  | ExecSessionJobData
  | LogsJobData
  | LogsFollowJobData
  | StatsJobData
  | VolumeJobData
  | RunOutputJobData
  | FilesReadJobData
  | FilesWriteJobData;
