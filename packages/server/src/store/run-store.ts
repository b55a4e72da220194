import type { RunState, RunView } from '@nagaya/contract';
import type { CreateRunInput } from '@nagaya/contract/schemas';
import type { Db } from './db';

/** What a run row keeps of its request (stdin is kept with it so a retry can hand it over again). */
export type RunSpec = Omit<CreateRunInput, 'schedule' | 'delaySeconds' | 'idempotencyKey'>;

/** A run row, output excluded (it is read only by GET /runs/{id}/output). */
export interface RunRow {
  id: string;
  project: string;
  spec: RunSpec;
  state: RunState;
  attempt: number;
  containerId: string | null;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stdoutBytes: number;
  stderrBytes: number;
  node: string | null;
  uidStart: number | null;
  uidCount: number | null;
  error: { code: string; message: string } | null;
  priority: number;
  idempotencyKey: string | null;
  scheduleId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** The slice an attempt held (host uid range; its gid range starts at the same slot). */
export interface RunSlice {
  uidStart: number;
  uidCount: number;
}

/** The result of one attempt, as its worker collected it. */
export interface RunResult {
  state: Extract<RunState, 'succeeded' | 'failed' | 'timedOut'>;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  stdoutBytes: number;
  stderrBytes: number;
  error: { code: string; message: string } | null;
}

// The statements are module constants: a prepared statement is found by its text (Db.query), and
// one string, built once, keeps its hash instead of being hashed anew on each call.
const ROW = `id, project, spec, state, attempt, container_id AS "containerId", exit_code AS "exitCode", signal, timed_out AS "timedOut",
  stdout_truncated AS "stdoutTruncated", stderr_truncated AS "stderrTruncated", stdout_bytes::float8 AS "stdoutBytes",
  stderr_bytes::float8 AS "stderrBytes", node, uid_start::float8 AS "uidStart", uid_count::float8 AS "uidCount", error, priority,
  idempotency_key AS "idempotencyKey", schedule_id AS "scheduleId", created_at AS "createdAt", started_at AS "startedAt",
  finished_at AS "finishedAt"`;

/**
 * Run rows. Every change of state is one statement guarded by the state (and the attempt's
 * container) it expects, so a cancel, a worker and a second copy of a stalled job racing for
 * one run leave it with exactly one result.
 */
export class RunStore {
  constructor(private readonly db: Db) {}

  /**
   * Inserts a queued run; with an idempotency key already used in the project, returns the
   * first run instead (created false). The queued count of its project before it (fair share)
   * comes back with it.
   */
  async create(run: {
    id: string;
    project: string;
    spec: RunSpec;
    priority: number;
    idempotencyKey?: string;
    scheduleId?: string;
    /** The node it must run on: that of the volumes it mounts. */
    node?: string;
    /** Who submitted it: the audit event (run.submit) goes in with the row, in the same statement. */
    auditActor?: string;
  }): Promise<{ row: RunRow; created: boolean; queuedBefore: number }> {
    const { rows } = await this.db.query<RunRow & { queuedBefore: number }>(
      CREATE_RUN,
      [
        run.id,
        run.project,
        JSON.stringify(run.spec),
        run.priority,
        run.idempotencyKey ?? null,
        run.scheduleId ?? null,
        run.auditActor ?? null,
        run.node ?? null,
      ],
      { prepared: true },
    );
    if (rows[0]) {
      const { queuedBefore, ...row } = rows[0];
      return { row, created: true, queuedBefore };
    }
    // the same id (a job handed out twice), or the same key in the project: the first run
    const { rows: first } = await this.db.query<RunRow>(
      `SELECT ${ROW} FROM run WHERE id = $3 OR (project = $1 AND idempotency_key = $2) ORDER BY id = $3 DESC LIMIT 1`,
      [run.project, run.idempotencyKey ?? null, run.id],
    );
    if (!first[0]) throw new Error(`run ${run.id}: neither inserted nor found by its idempotency key`);
    return { row: first[0], created: false, queuedBefore: 0 };
  }

  /** A run by id (of that project, when one is given). */
  async find(id: string, project?: string): Promise<RunRow | undefined> {
    const { rows } = await this.db.query<RunRow>(FIND_RUN, [id, project ?? null], { prepared: true });
    return rows[0];
  }

  /** The run whose current attempt runs in this container, if any. */
  async findByContainer(containerId: string): Promise<RunRow | undefined> {
    const { rows } = await this.db.query<RunRow>(`SELECT ${ROW} FROM run WHERE container_id = $1`, [containerId]);
    return rows[0];
  }

  /** Runs, newest first. */
  async list(filter: {
    project?: string;
    state?: RunState;
    since?: Date;
    before?: Date;
    limit?: number;
    node?: string;
  }): Promise<RunRow[]> {
    const { rows } = await this.db.query<RunRow>(
      `SELECT ${ROW} FROM run WHERE ($1::text IS NULL OR project = $1) AND ($2::text IS NULL OR state = $2)
          AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($5::text IS NULL OR node = $5)
          AND ($6::timestamptz IS NULL OR created_at < $6)
        ORDER BY created_at DESC, id LIMIT $4`,
      [filter.project ?? null, filter.state ?? null, filter.since ?? null, filter.limit ?? 100, filter.node ?? null, filter.before ?? null],
    );
    return rows;
  }

  /**
   * Takes a queued run for a new attempt on `node`, begun at once in `newContainerId` (its
   * container_id then, attempt counted), or a running one whose worker died, to adopt or redo
   * its attempt (its container_id that attempt's): returns the row, or `busy` when its project already has
   * `projectLimit` runs running elsewhere, or undefined when the run is final or cancelled.
   * The per-project count and the claim are one statement under the project's advisory lock
   * (nagaya_claim_run, migration 1765900000000), so two workers cannot both take the last place.
   *
   * It commits without waiting for its WAL flush, so the project's lock is not held through one:
   * nothing outside Postgres acts on a claim before the attempt's container is created, and that
   * create's own (flushed) commit makes every earlier WAL record durable, this claim's included.
   * A crash that loses a claim loses all that followed it, and the run is queued as before.
   */
  async claim(id: string, node: string, projectLimit: number, newContainerId: string): Promise<RunRow | 'busy' | undefined> {
    const { rows } = await this.db.query<RunRow>(CLAIM_RUN, [id, node, projectLimit, newContainerId], { prepared: true });
    const run = rows[0];
    if (!run) return undefined;
    return run.state === 'queued' ? 'busy' : run;
  }

  /** Records the container (and slice) of a new attempt, while the run still runs; false once it was cancelled. */
  async beginAttempt(id: string, containerId: string, node: string, attempt: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE run SET container_id = $2, node = $3, attempt = $4, uid_start = NULL, uid_count = NULL, error = NULL
        WHERE id = $1 AND state = 'running'`,
      [id, containerId, node, attempt],
    );
    return rowCount === 1;
  }

  /**
   * Records that an attempt's process runs: the slice it holds on the run, and its pid on its
   * container, which moves from starting to running; one statement, committed without waiting for
   * its WAL flush (a crash that loses it leaves a starting container the reconciler settles).
   * `recorded` is false once the run no longer runs this attempt (it was cancelled meanwhile).
   */
  async recordStart(
    id: string,
    containerId: string,
    slice: RunSlice,
    process: { pid: number; startTime: string },
  ): Promise<{ recorded: boolean }> {
    const { rows } = await this.db.query<{ recorded: boolean }>(
      `WITH s AS (SELECT set_config('synchronous_commit', 'off', true)),
            r AS (UPDATE run SET uid_start = $3, uid_count = $4 WHERE id = $1 AND container_id = $2 AND state = 'running' RETURNING id),
            c AS (UPDATE container SET state = 'running', updated_at = now(), pid = $5, start_time = $6, started_at = now()
                   WHERE id = $2 AND state = 'starting' RETURNING id)
       SELECT EXISTS (SELECT 1 FROM r) AS recorded, (SELECT count(*) FROM c) AS moved FROM s`,
      [id, containerId, slice.uidStart, slice.uidCount, process.pid, process.startTime],
      { prepared: true },
    );
    return { recorded: rows[0]!.recorded };
  }

  /**
   * Writes an attempt's result (the run's, when it is the last attempt): only once, only if the run
   * still runs that attempt. `slice`: the one it held, when its start was not recorded (see recordStart).
   */
  async finish(id: string, containerId: string | null, result: RunResult, final: boolean, slice?: RunSlice): Promise<boolean> {
    const { rowCount } = await this.db.query(FINISH_UPDATE, finishValues(id, containerId, result, final, slice), { prepared: true });
    return rowCount === 1;
  }

  /**
   * finish(), and in the same statement the attempt's container goes: its slice to quarantine
   * (nagaya_release) and its row. Only once the attempt's writable layer is gone (nothing its IDs
   * own is left on disk), and while the launcher still has its exit and output: a worker killed
   * before this statement leaves an attempt the next one settles from those, never runs again.
   * The container goes even when the run was cancelled or settled meanwhile (`recorded` false).
   */
  async finishReleasing(
    id: string,
    containerId: string,
    result: RunResult,
    final: boolean,
    slice?: RunSlice,
  ): Promise<{ recorded: boolean }> {
    const { rows } = await this.db.query<{ recorded: boolean }>(FINISH_RELEASING, finishValues(id, containerId, result, final, slice), {
      prepared: true,
    });
    return { recorded: rows[0]!.recorded };
  }

  /** Ends a run that could not run to an exit (its job gave up, its node lost it) as failed; once. */
  async fail(id: string, error: { code: string; message: string }, states: RunState[] = ['queued', 'running']): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE run SET state = 'failed', error = $2::jsonb, finished_at = now() WHERE id = $1 AND state = ANY ($3)`,
      [id, JSON.stringify(error), states],
    );
    return rowCount === 1;
  }

  /**
   * Cancels a run that has not ended: returns the state it was in and the container and node of
   * its attempt (a running one is killed by the caller), or undefined when it had already ended.
   */
  async cancel(id: string, project: string): Promise<{ was: RunState; containerId: string | null; node: string | null } | undefined> {
    const { rows } = await this.db.query<{ was: RunState; containerId: string | null; node: string | null }>(
      `UPDATE run r SET state = 'cancelled', finished_at = now(),
              error = jsonb_build_object('code', 'CANCELLED', 'message', 'cancelled by a request')
         FROM (SELECT id, state FROM run WHERE id = $1 AND project = $2 FOR UPDATE) old
        WHERE r.id = old.id AND old.state IN ('queued', 'running')
        RETURNING old.state AS was, r.container_id AS "containerId", r.node`,
      [id, project],
    );
    return rows[0];
  }

  /** A run's output. */
  async output(id: string, project: string): Promise<(RunRow & { stdout: Buffer | null; stderr: Buffer | null }) | undefined> {
    const { rows } = await this.db.query<RunRow & { stdout: Buffer | null; stderr: Buffer | null }>(
      `SELECT ${ROW}, stdout, stderr FROM run WHERE id = $1 AND project = $2`,
      [id, project],
    );
    return rows[0];
  }

  /** Runs that run on `node` now. */
  async runningOn(node: string): Promise<RunRow[]> {
    const { rows } = await this.db.query<RunRow>(`SELECT ${ROW} FROM run WHERE state = 'running' AND node = $1`, [node]);
    return rows;
  }

  /**
   * Settles the runs a dead node was running (its removal, `nodes remove --dead`): the node and
   * its processes are gone, so each attempt counts as failed (NODE_LOST). A run with a retry left
   * goes back to queued, for a fresh attempt in a fresh container on a live node (Kubernetes does
   * the same with a Job's pod on a lost node); the others end failed, and so does a run that
   * mounts a volume: its volume is on the dead node, so no other node can run it. For that reason
   * a run still queued for the dead node (one that mounts a volume there) fails too: it would wait
   * for good. One statement, so a worker settling one of them at the same moment either wins or
   * finds it no longer running.
   */
  async loseOnNode(node: string): Promise<Array<Pick<RunRow, 'id' | 'project' | 'priority' | 'state' | 'node' | 'spec'>>> {
    const { rows } = await this.db.query<Pick<RunRow, 'id' | 'project' | 'priority' | 'state' | 'node' | 'spec'>>(
      `WITH lost AS (
         SELECT id, state AS was, attempt < coalesce((spec->>'retries')::int, 0) + 1
                    AND NOT jsonb_path_exists(coalesce(spec->'mounts', '[]'::jsonb), '$[*].volume') AS retry
           FROM run WHERE node = $1
            AND (state = 'running' OR (state = 'queued' AND jsonb_path_exists(coalesce(spec->'mounts', '[]'::jsonb), '$[*].volume')))
            FOR UPDATE)
       UPDATE run r SET state = CASE WHEN lost.retry AND lost.was = 'running' THEN 'queued' ELSE 'failed' END,
              error = jsonb_build_object('code', 'NODE_LOST', 'message', CASE WHEN lost.was = 'running'
                THEN format('its node %s was removed as dead while attempt %s ran', $1::text, r.attempt)
                ELSE format('the node of its volumes, %s, was removed as dead before it ran', $1::text) END),
              finished_at = CASE WHEN lost.retry AND lost.was = 'running' THEN NULL ELSE now() END
         FROM lost WHERE r.id = lost.id AND r.state = lost.was
       RETURNING r.id, r.project, r.priority, r.state, r.node, r.spec`,
      [node],
    );
    return rows;
  }

  /** Deletes runs finished before `before`; returns how many. */
  async prune(before: Date): Promise<number> {
    const { rowCount } = await this.db.query(`DELETE FROM run WHERE finished_at < $1`, [before]);
    return rowCount ?? 0;
  }
}

/** A run as the API shows it. */
export function runView(r: RunRow): RunView {
  return {
    id: r.id,
    project: r.project,
    state: r.state,
    image: r.spec.image,
    command: r.spec.command,
    attempt: r.attempt,
    retries: r.spec.retries ?? 0,
    priority: r.priority,
    timeoutSeconds: r.spec.timeoutSeconds,
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    stdoutBytes: r.stdoutBytes,
    stderrBytes: r.stderrBytes,
    stdoutTruncated: r.stdoutTruncated,
    stderrTruncated: r.stderrTruncated,
    mounts: (r.spec.mounts ?? []).map((m) =>
      'volume' in m
        ? { volume: m.volume, path: m.path, readOnly: m.readOnly ?? false }
        : { hostPath: m.hostPath, path: m.path, readOnly: m.readOnly ?? false, shift: m.shift ?? false },
    ),
    node: r.node,
    slice: r.uidStart === null || r.uidCount === null ? null : { uidStart: r.uidStart, uidCount: r.uidCount },
    error: r.error,
    scheduleId: r.scheduleId,
    idempotencyKey: r.idempotencyKey,
    createdAt: r.createdAt.toISOString(),
    startedAt: r.startedAt?.toISOString() ?? null,
    finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}

/** The update that writes an attempt's result ($1 run, $2 container, $3.. the result; see finishValues). */
const FINISH_UPDATE = `UPDATE run SET state = CASE WHEN $13::boolean THEN $3 ELSE 'running' END, exit_code = $4, signal = $5, timed_out = $6,
          stdout = $7, stderr = $8, stdout_truncated = $9, stderr_truncated = $10, stdout_bytes = $11, stderr_bytes = $12,
          error = $14::jsonb, finished_at = CASE WHEN $13::boolean THEN now() END,
          uid_start = coalesce($15::int8, uid_start), uid_count = coalesce($16::int8, uid_count)
    WHERE id = $1 AND state = 'running' AND container_id IS NOT DISTINCT FROM $2::uuid`;

/** The statement of RunStore.create. */
const CREATE_RUN = `WITH q AS (SELECT count(*)::int AS n FROM run WHERE project = $2 AND state = 'queued'),
            ins AS (
              INSERT INTO run (id, project, spec, priority, idempotency_key, schedule_id, node)
              VALUES ($1, $2, $3, $4, $5, $6, $8) ON CONFLICT DO NOTHING
              RETURNING ${ROW}),
            a AS (
              INSERT INTO audit_event (actor, project, action, target, details)
              SELECT $7::text, ins.project, 'run.submit', ins.id::text, jsonb_build_object('image', ins.spec->>'image') FROM ins WHERE $7::text IS NOT NULL)
       SELECT ins.*, (SELECT n FROM q) AS "queuedBefore" FROM ins`;

/** The statement of RunStore.find. */
const FIND_RUN = `SELECT ${ROW} FROM run WHERE id = $1 AND ($2::text IS NULL OR project = $2)`;

/** The statement of RunStore.claim. */
const CLAIM_RUN = `SELECT ${ROW} FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed, nagaya_claim_run($1, $2, $3, $4)`;

/** The statement of RunStore.finishReleasing. */
const FINISH_RELEASING = `WITH f AS (${FINISH_UPDATE} RETURNING id),
            r AS (SELECT nagaya_release($2::text) AS released),
            d AS (DELETE FROM container WHERE id = $2::uuid RETURNING id)
       SELECT EXISTS (SELECT 1 FROM f) AS recorded, (SELECT released FROM r) AS released, (SELECT count(*) FROM d) AS deleted`;

function finishValues(id: string, containerId: string | null, result: RunResult, final: boolean, slice?: RunSlice): unknown[] {
  return [
    id,
    containerId,
    result.state,
    result.exitCode,
    result.signal,
    result.timedOut,
    result.stdout,
    result.stderr,
    result.stdoutTruncated,
    result.stderrTruncated,
    result.stdoutBytes,
    result.stderrBytes,
    final,
    result.error === null ? null : JSON.stringify(result.error),
    slice?.uidStart ?? null,
    slice?.uidCount ?? null,
  ];
}
