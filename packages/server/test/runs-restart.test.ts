// A worker that stops normally does not wait for the runs it runs (one may last days): their
// processes keep running in the launcher, and the next worker of the node takes each attempt up
// and records its result, once.
import type { RunOutputView, RunView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from './support/test-server';

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({ role: 'api', slices: 8, quarantineSeconds: 0 });
  await fleet.addWorker('node-r');
}, 60_000);
afterAll(async () => fleet?.stop());

describe('runs across a worker restart', () => {
  it("closes the worker at once during a run; the next worker records the run's own result", async () => {
    const { run } = await fleet.admin.post<{ run: RunView }>('/runs', {
      image: 'busybox',
      command: ['/bin/sh', '-c', 'sleep 3; echo survived; exit 5'],
      timeoutSeconds: 120,
    });
    await eventually(async () => ((await fleet.admin.get<RunView>(`/runs/${run.id}`)).slice ? true : undefined));
    const closing = Date.now();
    await fleet.workers.pop()!.close();
    expect(Date.now() - closing).toBeLessThan(2_500);
    expect((await fleet.admin.get<RunView>(`/runs/${run.id}`)).state).toBe('running');
    await fleet.addWorker('node-r');
    const done = await fleet.admin.get<RunView>(`/runs/${run.id}/wait?timeoutSeconds=60`);
    expect(done).toMatchObject({ state: 'failed', exitCode: 5, attempt: 1 });
    expect((await fleet.admin.get<RunOutputView>(`/runs/${run.id}/output`)).stdout).toBe('survived\n');
    await eventually(async () => {
      const { rows } = await fleet.db.pool.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM container WHERE kind = 'run') + (SELECT count(*) FROM id_lease) AS n`,
      );
      return Number(rows[0]!.n) === 0 ? true : undefined;
    }, 10_000);
  }, 90_000);
});
