/** Runs: run-to-completion work, each attempt in a fresh container with a fresh slice (issue 16). */
import type { ContainerMountView } from './volumes';

/** queued: waits in the runs queue (or delayed); running: an attempt has its container; the rest are final. */
export const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'timedOut', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];

/** States a run never leaves. */
export const FINAL_RUN_STATES: readonly RunState[] = ['succeeded', 'failed', 'timedOut', 'cancelled'];

/** Highest `priority` a run may ask for; higher runs first. */
export const RUN_PRIORITY_MAX = 100;
/** Default cap of each of stdout and stderr kept of a run. */
export const DEFAULT_RUN_OUTPUT_LIMIT_BYTES = 1024 * 1024;
/** Largest `outputLimitBytes`: the output is kept in Postgres with the run. */
export const MAX_RUN_OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024;
/** Largest stdin a run is handed (decoded bytes). */
export const MAX_RUN_STDIN_BYTES = 1024 * 1024;

/** A run as the API shows it (its output is GET /runs/{id}/output). */
export interface RunView {
  id: string;
  project: string;
  state: RunState;
  image: string;
  command: string[];
  /** Attempts begun (a retry is a new attempt in a fresh container). */
  attempt: number;
  retries: number;
  priority: number;
  timeoutSeconds: number;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** Volumes and host directories each attempt mounts, as submitted. */
  mounts: ContainerMountView[];
  /** Node of the last attempt; a run that mounts a volume has its volume's node from its submission on. */
  node: string | null;
  /** The host uid range the last attempt's slice held. */
  slice: { uidStart: number; uidCount: number } | null;
  error: { code: string; message: string } | null;
  scheduleId: string | null;
  idempotencyKey: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** What a run wrote, each stream capped at its outputLimitBytes. */
export interface RunOutputView {
  id: string;
  state: RunState;
  encoding: 'utf8' | 'base64';
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

/** A repeatable run: a cron pattern and the run it submits each time. */
export interface RunScheduleView {
  id: string;
  project: string;
  pattern: string;
  /** When it fires next. */
  next: string | null;
  image: string;
  command: string[];
}

/** The BullMQ queue of runs (under the fleet's NAGAYA_QUEUE_PREFIX). */
export const RUNS_QUEUE = 'runs';

/** BullMQ priorities of one band: a run's place among the queued runs of its project. */
const FAIR_SHARE_BAND = 20_000;

/**
 * The BullMQ priority (lower first) of a new run: its priority band, then how many runs its
 * project already has queued. BullMQ OSS has no groups; this gives fair share between projects,
 * as one project's single run goes before another project's 500th. Within a band and a place,
 * BullMQ keeps submission order.
 */
export function bullPriorityOf(priority: number, queuedBefore: number): number {
  return (RUN_PRIORITY_MAX - priority) * FAIR_SHARE_BAND + Math.min(queuedBefore, FAIR_SHARE_BAND - 1) + 1;
}

/**
 * The key type (BullMQ's Queue.toKey of the runs queue) of a Redis counter: the runs of a project
 * put straight into the queue whose rows no worker has made yet. A direct submission cannot count
 * the project's queued rows in Postgres as the API does, so it counts these instead, for its
 * place in the fair share; the worker that makes a row takes one off, and puts a job that still
 * went ahead of its project's queued rows back behind them.
 */
export const directRunsPendingKeyType = (project: string) => `direct-pending:${project}`;

/** The counter outlives its last submission by this long: a count left behind (a job removed by hand) fades. */
export const DIRECT_RUNS_PENDING_TTL_SECONDS = 7 * 86400;

/**
 * A job of the runs queue, as the API and @nagaya/client write it. A run submitted through the
 * API has its row already, and its job only its id (the job id is the run id too). A schedule's
 * jobs carry the spec, and the worker that takes one makes its run row. A run put straight into
 * the queue carries both its id and its spec (checked by the worker as the API checks a request).
 */
export interface RunJobData {
  project: string;
  runId?: string;
  scheduleId?: string;
  /** A createRunSchema request, less schedule and delaySeconds. */
  spec?: Record<string, unknown> & { image: string; command: string[]; timeoutSeconds: number };
  priority?: number;
}
