import { describe, expect, it } from 'vitest';
import type { ContainerRecord } from '@nagaya/native';
import {
  compareVolumes,
  capsPids,
  isContainerId,
  isUnfinished,
  isYoung,
  jobInFlight,
  mayAdopt,
  mayBeOrphanLease,
  pidsBoundFor,
  recoverUnfinishedRow,
  settleLostRow,
  settleRunningRow,
} from '../src/jobs/reconcile-decisions';
import type { ContainerState } from '@nagaya/contract';

const ID = '0b6f2a4e-8d1c-4f3a-9e2b-7c5d1a0f3e21';
const ALL_STATES: ContainerState[] = ['pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting', 'lost'];

function record(state: ContainerRecord['state'], extra: Partial<ContainerRecord> = {}): ContainerRecord {
  return { id: ID, dir: `/state/containers/${ID}`, state, ...extra };
}

describe('isContainerId', () => {
  it('takes a lowercase UUID and nothing else', () => {
    expect(isContainerId(ID)).toBe(true);
    expect(isContainerId(ID.toUpperCase())).toBe(false);
    expect(isContainerId(`${ID}x`)).toBe(false);
    expect(isContainerId('bench-owner-1')).toBe(false);
  });
});

describe('isYoung', () => {
  it('is young strictly inside the grace period', () => {
    const updatedAt = new Date(1_000_000);
    expect(isYoung(updatedAt, 1_000_000 + 14_999, 15_000)).toBe(true);
    expect(isYoung(updatedAt, 1_000_000 + 15_000, 15_000)).toBe(false);
  });
});

describe('settleRunningRow', () => {
  const exit = { exitCode: 0, signal: null, oomKilled: false, lost: false };

  it('keeps a row whose process runs, young or old', () => {
    expect(settleRunningRow(record('running'), false)).toEqual({ action: 'keep' });
    expect(settleRunningRow(record('running', { exit }), true)).toEqual({ action: 'keep' });
  });

  it('settles a row from the exit the launcher recorded, even a young one', () => {
    expect(settleRunningRow(record('exited', { exit }), true)).toEqual({ action: 'apply-recorded-exit', exit });
  });

  it("gives a recorded exit the pid of the run it ended, so that it cannot settle a later run's row", () => {
    expect(settleRunningRow(record('exited', { exit, pid: 4242 }), false)).toEqual({
      action: 'apply-recorded-exit',
      exit: { ...exit, pid: 4242 },
    });
  });

  it('marks an old row with neither a process nor an exit lost, and waits on a young one', () => {
    for (const r of [undefined, record('gone'), record('created')]) {
      expect(settleRunningRow(r, false)).toEqual({ action: 'mark-lost' });
      expect(settleRunningRow(r, true)).toEqual({ action: 'wait' });
    }
  });
});

describe('isUnfinished and jobInFlight', () => {
  it('calls pending, starting and deleting rows unfinished', () => {
    expect(ALL_STATES.filter(isUnfinished)).toEqual(['pending', 'starting', 'deleting']);
  });

  it('leaves a row to a job that is waiting or active, not to one that ended', () => {
    expect(jobInFlight({ state: 'waiting' })).toBe(true);
    expect(jobInFlight({ state: 'active' })).toBe(true);
    expect(jobInFlight({ state: 'completed' })).toBe(false);
    expect(jobInFlight({ state: 'failed' })).toBe(false);
    expect(jobInFlight(undefined)).toBe(false);
  });
});

describe('mayAdopt', () => {
  it('looks for a lease only for a running process of a row that is not being deleted', () => {
    expect(mayAdopt('pending', record('running'))).toBe(true);
    expect(mayAdopt('starting', record('running'))).toBe(true);
    expect(mayAdopt('deleting', record('running'))).toBe(false);
    expect(mayAdopt('starting', record('exited'))).toBe(false);
    expect(mayAdopt('starting', undefined)).toBe(false);
  });
});

describe('recoverUnfinishedRow', () => {
  const launched = new Date(1_000_000);

  it('adopts a running process whose lease is on record, handing back its record', () => {
    const running = record('running', { pid: 42, startTime: '99' });
    expect(recoverUnfinishedRow({ state: 'starting', startedAt: null }, running, true)).toEqual({ action: 'adopt', record: running });
    expect(recoverUnfinishedRow({ state: 'pending', startedAt: launched }, running, true)).toEqual({ action: 'adopt', record: running });
  });

  it('removes a running process without a recorded slice, then gives the row its job again', () => {
    const running = record('running', { pid: 42 });
    expect(recoverUnfinishedRow({ state: 'starting', startedAt: null }, running, false)).toEqual({
      action: 'requeue',
      kind: 'launch',
      removeStray: running,
      backToPending: true,
    });
  });

  it('never adopts for a deleting row: the process goes and the delete runs again', () => {
    const running = record('running', { pid: 42 });
    expect(recoverUnfinishedRow({ state: 'deleting', startedAt: launched }, running, true)).toEqual({
      action: 'requeue',
      kind: 'delete',
      removeStray: running,
      backToPending: false,
    });
  });

  it('gives a row that never ran a launch, and one that ran before a start', () => {
    expect(recoverUnfinishedRow({ state: 'pending', startedAt: null }, undefined, false)).toEqual({
      action: 'requeue',
      kind: 'launch',
      removeStray: undefined,
      backToPending: false,
    });
    expect(recoverUnfinishedRow({ state: 'starting', startedAt: launched }, record('exited'), false)).toEqual({
      action: 'requeue',
      kind: 'start',
      removeStray: undefined,
      backToPending: true,
    });
  });
});

describe('mayBeOrphanLease', () => {
  const now = 10_000_000;
  it('suspects a container lease from the orphan age on, at the exact edge too', () => {
    expect(mayBeOrphanLease({ owner: ID, createdAt: new Date(now - 120_000) }, now, 120_000)).toBe(true);
    expect(mayBeOrphanLease({ owner: ID, createdAt: new Date(now - 119_999) }, now, 120_000)).toBe(false);
  });

  it('never suspects a lease held through the allocator directly', () => {
    expect(mayBeOrphanLease({ owner: 'bench-1', createdAt: new Date(0) }, now, 120_000)).toBe(false);
  });
});

describe('pids bounds', () => {
  it('reads a number in pids.max as a cap and "max" as none', () => {
    expect(capsPids('4096\n')).toBe(true);
    expect(capsPids('max\n')).toBe(false);
    expect(capsPids('')).toBe(false);
  });

  it("gives the row's pids limit, else the default", () => {
    expect(pidsBoundFor({ pids: 100 }, 4096)).toBe(100);
    expect(pidsBoundFor({}, 4096)).toBe(4096);
    expect(pidsBoundFor(undefined, 4096)).toBe(4096);
  });
});

describe('a row lost with its node (removed as dead), when the node comes back', () => {
  it('kills a process that still runs, removes what is left of one that ended, and is done when nothing is left', () => {
    expect(settleLostRow(record('running'))).toBe('kill');
    expect(settleLostRow(record('exited'))).toBe('remove');
    expect(settleLostRow(undefined)).toBe('done');
  });

  it('is not unfinished: no job is given to it again', () => {
    expect(isUnfinished('lost')).toBe(false);
  });
});

describe('compareVolumes', () => {
  const now = 1_000_000;
  const at = (msAgo: number) => new Date(now - msAgo);
  it('removes directories no row names once past the grace, and reports old rows without a directory', () => {
    const onDisk = [
      { id: 'recorded', changedAt: at(60_000) },
      { id: 'orphan', changedAt: at(15_000) }, // exactly the grace: old enough
      { id: 'being-made', changedAt: at(14_999) },
    ];
    const rows = [
      { id: 'recorded', createdAt: at(60_000) },
      { id: 'lost', createdAt: at(15_000) },
      { id: 'just-recorded', createdAt: at(10) }, // made after the disk was listed
    ];
    expect(compareVolumes(onDisk, new Set(['recorded', 'lost', 'just-recorded']), rows, now, 15_000)).toEqual({
      orphans: ['orphan'],
      missing: ['lost'],
    });
  });

  it('never takes a directory whose row is on another node for an orphan', () => {
    expect(compareVolumes([{ id: 'elsewhere', changedAt: at(60_000) }], new Set(['elsewhere']), [], now, 15_000)).toEqual({
      orphans: [],
      missing: [],
    });
  });
});
