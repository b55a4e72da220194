import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newContainer } from './support/container-rows';
import type { ContainerState } from '@nagaya/contract';
import type { ContainerJobDeps } from '../src/jobs/container-job-deps';
import { ContainerJobs } from '../src/jobs/container-jobs';
import { createLogger } from '../src/observability/logger';
import { ContainerStore } from '../src/store/container-store';
import { Db } from '../src/store/db';
import { createTestDatabase, type TestDatabase } from '../../allocator/test/support/test-database';

// The launcher reports an exit asynchronously, so applyExit runs alongside the job that asked for
// it: during a restart the job moves the row on to its next run while applyExit is between
// reading the row and writing it. These tests make that interleaving happen every time.

const OLD_PID = 4242;
const EXITED = { exitCode: 0, signal: null, oomKilled: false, lost: false };

let testDb: TestDatabase;
let db: Db;
let store: ContainerStore;

beforeAll(async () => {
  testDb = await createTestDatabase('nagaya_exit');
  db = new Db(testDb.url, 4);
  store = new ContainerStore(db);
  // a create places a row only on a node that is active
  await db.query(`INSERT INTO node (name) VALUES ('node-a')`);
});
afterAll(async () => {
  await db?.pool.end();
  await testDb?.drop();
});

async function containerIn(state: ContainerState, pid: number | null): Promise<string> {
  const c = newContainer();
  await store.create(c, { launchJobId: c.id, queue: `node-${c.node}`, actor: 'test' });
  await store.transition(c.id, [], state, { pid });
  return c.id;
}

/** ContainerJobs whose applyExit sees the row as it was, after which `meanwhile` changes it. */
function jobsRacing(meanwhile: (id: string) => Promise<void>): ContainerJobs {
  const racing = Object.create(store) as ContainerStore;
  racing.findById = async (id: string) => {
    const row = await store.findById(id);
    await meanwhile(id);
    return row;
  };
  return new ContainerJobs({ containers: racing, log: createLogger({}, () => undefined) } as unknown as ContainerJobDeps);
}

describe('an exit reported while a job moves the row on', () => {
  it('leaves the next run of a restart alone: the row the restart moved to starting stays starting', async () => {
    const id = await containerIn('stopping', OLD_PID);
    const restart = jobsRacing(async (rowId) => {
      await store.transition(rowId, ['stopping'], 'stopped', { pid: null });
      await store.transition(rowId, ['stopped'], 'starting');
    });
    await restart.applyExit(id, { ...EXITED, pid: OLD_PID });
    expect((await store.findById(id))?.state).toBe('starting');
  });

  it('leaves a run that started meanwhile alone, even for an exit that names no pid (a record read back)', async () => {
    const id = await containerIn('running', OLD_PID);
    const relaunch = jobsRacing(async (rowId) => {
      await store.transition(rowId, ['running'], 'running', { pid: OLD_PID + 1 });
    });
    await relaunch.applyExit(id, EXITED);
    expect(await store.findById(id)).toMatchObject({ state: 'running', pid: OLD_PID + 1 });
  });

  it('still settles the run it read when nothing changed in between', async () => {
    const id = await containerIn('stopping', OLD_PID);
    await jobsRacing(async () => undefined).applyExit(id, { ...EXITED, pid: OLD_PID });
    expect(await store.findById(id)).toMatchObject({ state: 'stopped', pid: null, exitCode: 0 });
  });
});
