import type { ContainerRecord, ExitStatus } from '@nagaya/native';
import type { ContainerState, JobState, LifecycleKind } from '@nagaya/contract';

// The decisions of the reconciler (reconciler.ts), kept free of I/O so each branch can be tested
// on its own: what becomes of a row whose process ended, when a row's job is given again, when a
// running process is adopted, which leases are orphans, which containers need a pids bound.

const CONTAINER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Tells whether a launcher record or a lease owner is named like a container (a UUID), not held through the allocator directly. */
export function isContainerId(id: string): boolean {
  return CONTAINER_ID.test(id);
}

/** Tells whether a row changed so recently that its job may still be on its way into a queue. */
export function isYoung(updatedAt: Date, now: number, graceMs: number): boolean {
  return now - updatedAt.getTime() < graceMs;
}

/**
 * What to do with a running or stopping row: keep it (its process runs), settle it from the
 * exit the launcher recorded, mark it lost (no process, no exit, and the row is old enough), or
 * wait for the next round.
 */
export type RunningRowAction = { action: 'keep' | 'mark-lost' | 'wait' } | { action: 'apply-recorded-exit'; exit: ExitStatus };

/**
 * Decides what becomes of a running or stopping row, given the launcher's record of it. The
 * record may be older than the row (a restart may have launched a new run since it was read), so
 * a recorded exit carries the pid of the run it ended: it settles that run, never a later one.
 */
export function settleRunningRow(record: Pick<ContainerRecord, 'state' | 'exit' | 'pid'> | undefined, young: boolean): RunningRowAction {
  if (record?.state === 'running') return { action: 'keep' };
  if (record?.exit) {
    const exit = record.pid === undefined ? record.exit : { ...record.exit, pid: record.pid };
    return { action: 'apply-recorded-exit', exit };
  }
  return { action: young ? 'wait' : 'mark-lost' };
}

/** Tells whether a row is waiting for a job to finish it: pending, starting or deleting. */
export function isUnfinished(state: ContainerState): state is 'pending' | 'starting' | 'deleting' | 'restarting' {
  return state === 'pending' || state === 'starting' || state === 'deleting' || state === 'restarting';
}

/** Tells whether the latest job of a row is still queued or running, so the row is left to it. */
export function jobInFlight(latest: { state: JobState } | undefined): boolean {
  return latest !== undefined && (latest.state === 'waiting' || latest.state === 'active');
}

/**
 * Tells whether an unfinished row's running process may be adopted, so that its lease must be
 * looked up: the worker died between spawning and recording it. Never for a deleting row.
 */
export function mayAdopt(state: ContainerState, record: Pick<ContainerRecord, 'state'> | undefined): boolean {
  return state !== 'deleting' && record?.state === 'running';
}

/**
 * How an unfinished row with no job in flight is recovered: adopt its running process (the
 * record), or give it its job again, first removing the process that runs without a recorded
 * slice (removeStray) and moving a starting row back to pending.
 */
export type Recovery<R> =
  | { action: 'adopt'; record: R }
  | { action: 'requeue'; kind: LifecycleKind; removeStray: R | undefined; backToPending: boolean };

/**
 * Decides how to recover an unfinished row. A running process is adopted only with its lease on
 * record: a process whose slice is not recorded is not kept. The job given again is a delete for
 * a deleting row, a start for a row that ran before, a launch otherwise.
 */
export function recoverUnfinishedRow<R extends Pick<ContainerRecord, 'state'>>(
  row: { state: 'pending' | 'starting' | 'deleting' | 'restarting'; startedAt: Date | null },
  record: R | undefined,
  leaseOnRecord: boolean,
): Recovery<R> {
  if (record && mayAdopt(row.state, record) && leaseOnRecord) return { action: 'adopt', record };
  const kind: LifecycleKind = row.state === 'deleting' ? 'delete' : row.startedAt ? 'start' : 'launch';
  const removeStray = record?.state === 'running' ? record : undefined;
  return { action: 'requeue', kind, removeStray, backToPending: row.state === 'starting' };
}

/**
 * Tells whether a lease may be an orphan (its launch died half-way): old enough, and owned by a
 * container id. It is one when no container row has that id.
 */
export function mayBeOrphanLease(lease: { owner: string; createdAt: Date }, now: number, orphanLeaseAgeMs: number): boolean {
  return now - lease.createdAt.getTime() >= orphanLeaseAgeMs && isContainerId(lease.owner);
}

/** Tells whether the text of a cgroup's pids.max caps the pids ("max" does not). */
export function capsPids(pidsMaxText: string): boolean {
  return /^\d+$/.test(pidsMaxText.trim());
}

/** The pids.max given to a running container found without a bound: its row's limit, else the default. */
export function pidsBoundFor(limits: { pids?: number } | undefined, defaultPidsMax: number): number {
  return limits?.pids ?? defaultPidsMax;
}

/**
 * What a node does with a row of its own recorded as `lost` (an admin removed the node as dead
 * while it ran): the process, if it still runs, must go before the row's fenced slice is given
 * back; then its directory goes. `done` when nothing of it is left here.
 */
export function settleLostRow(record: Pick<ContainerRecord, 'state'> | undefined): 'kill' | 'remove' | 'done' {
  if (record?.state === 'running') return 'kill';
  return record ? 'remove' : 'done';
}

/**
 * Compares a node's volume directories with the volume rows: the directories no row names and
 * that are older than the grace (a create makes its directory first and records its row right
 * after, so a young one may be about to be recorded) are orphans to remove; the rows of this node
 * older than the grace whose directory is not on the disk are missing (reported: nothing here
 * can make their files again).
 */
export function compareVolumes(
  onDisk: Array<{ id: string; changedAt: Date }>,
  recorded: ReadonlySet<string>,
  rowsOfNode: Array<{ id: string; createdAt: Date }>,
  now: number,
  graceMs: number,
): { orphans: string[]; missing: string[] } {
  const present = new Set(onDisk.map((d) => d.id));
  return {
    orphans: onDisk.filter((d) => !recorded.has(d.id) && !isYoung(d.changedAt, now, graceMs)).map((d) => d.id),
    missing: rowsOfNode.filter((v) => !present.has(v.id) && !isYoung(v.createdAt, now, graceMs)).map((v) => v.id),
  };
}
