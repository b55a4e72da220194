/** Runs: run-to-completion work, each attempt in a fresh container with a fresh slice (issue 16). */

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
  /** Node of the last attempt. */
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
