import type { ContainerState } from '@nagaya/contract';
import { CONTAINER_COLUMNS, type ContainerRow } from './container-row';
import type { Db } from './db';

// A container's state change guarded by the state it expects (ContainerStore.transition): the
// one UPDATE every lifecycle step goes through.

/** Fields a state change may set; undefined leaves a column alone, null clears it. */
export interface StateChange {
  pid?: number | null;
  startTime?: string | null;
  exitCode?: number | null;
  exitSignal?: string | null;
  error?: ContainerRow['error'];
  startedAt?: Date | null;
  finishedAt?: Date | null;
  restartCount?: number;
  restartStreak?: number;
  lastExit?: ContainerRow['lastExit'];
  stoppedByUser?: boolean;
}

const COLUMNS: Record<keyof StateChange, string> = {
  pid: 'pid',
  startTime: 'start_time',
  exitCode: 'exit_code',
  exitSignal: 'exit_signal',
  error: 'error',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  restartCount: 'restart_count',
  restartStreak: 'restart_streak',
  lastExit: 'last_exit',
  stoppedByUser: 'stopped_by_user',
};

/** The columns a StateChange writes as JSON. */
const JSON_COLUMNS: ReadonlySet<keyof StateChange> = new Set(['error', 'lastExit']);

/**
 * Moves a container to `to` if it is in one of `from` (or any state when from is empty) and,
 * when `of` gives them, still records that run's pid (null: none) and is still on that node;
 * returns the updated row, or undefined when the container is gone, in another state, on
 * another run or moved to another node. `unflushed`: the change is answered before Postgres
 * has flushed it to its WAL (a millisecond or more here), for changes a Postgres crash may
 * lose because the reconciler redoes them (a launch marked running: a starting row whose
 * container runs is adopted). Never for what a launch relies on (the claim and its slice) or
 * what a client was told.
 */
export async function transitionContainer(
  db: Db,
  id: string,
  from: ContainerState[],
  to: ContainerState,
  change: StateChange = {},
  of?: { pid?: number | null; node?: string },
  options: { unflushed?: boolean } = {},
): Promise<ContainerRow | undefined> {
  const sets = ['state = $2', 'updated_at = now()'];
  const values: unknown[] = [id, to];
  for (const [key, column] of Object.entries(COLUMNS) as Array<[keyof StateChange, string]>) {
    if (change[key] === undefined) continue;
    values.push(JSON_COLUMNS.has(key) && change[key] !== null ? JSON.stringify(change[key]) : change[key]);
    sets.push(`${column} = $${values.length}`);
  }
  values.push(from.length ? from : null);
  const fromParam = values.length;
  let sameRun = '';
  if (of && 'pid' in of) {
    values.push(of.pid);
    sameRun = ` AND pid IS NOT DISTINCT FROM $${values.length}::integer`;
  }
  if (of?.node !== undefined) {
    values.push(of.node);
    sameRun += ` AND node = $${values.length}`;
  }
  const update = `UPDATE container SET ${sets.join(', ')} WHERE id = $1 AND ($${fromParam}::text[] IS NULL OR state = ANY ($${fromParam}))${sameRun}
     RETURNING ${CONTAINER_COLUMNS}`;
  // unflushed: the statement's own transaction commits without waiting for its WAL flush
  // (SET LOCAL synchronous_commit = off, in the same statement)
  const text = options.unflushed
    ? `WITH s AS (SELECT set_config('synchronous_commit', 'off', true)), u AS (${update}) SELECT u.* FROM u, s`
    : update;
  const { rows } = await db.query<ContainerRow>(text, values, { prepared: true });
  return rows[0];
}
