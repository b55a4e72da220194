// The runs queue's scheduling on a real fleet: priority, fair share between projects, the
// per-project limit, and cron schedules (BullMQ job schedulers).
import type { RunScheduleView, RunView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from './support/test-server';

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({
    slices: 16,
    quarantineSeconds: 0,
    env: { NAGAYA_RUN_CONCURRENCY: '2', NAGAYA_RUN_PROJECT_CONCURRENCY: '2' },
  });
  await fleet.admin.post('/projects', { name: 'proj-a' });
  await fleet.admin.post('/projects', { name: 'proj-b' });
}, 60_000);
afterAll(async () => fleet?.stop());

const submit = async (spec: Record<string, unknown>, project = 'default') =>
  (await fleet.admin.post<{ run: RunView }>(`/runs?project=${project}`, { image: 'busybox', timeoutSeconds: 60, ...spec })).run;
const get = (id: string, project = 'default') => fleet.admin.get<RunView>(`/runs/${id}?project=${project}`);
const waitFor = (id: string, project = 'default') => fleet.admin.get<RunView>(`/runs/${id}/wait?timeoutSeconds=120&project=${project}`);

/** Submits `count` runs, `parallel` requests at a time, in order of their index within each batch. */
async function submitMany(
  count: number,
  spec: (i: number) => Record<string, unknown>,
  project = 'default',
  parallel = 10,
): Promise<RunView[]> {
  const out: RunView[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, (_, j) => submit(spec(i + j), project));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

describe('the runs queue', () => {
  it('starts a high-priority run, submitted after 50 low-priority ones while the slots are full, first', async () => {
    const blockers = await submitMany(2, () => ({ command: ['sleep', '2'] }));
    await eventually(async () =>
      (await Promise.all(blockers.map((b) => get(b.id)))).every((b) => b.state === 'running') ? true : undefined,
    );
    const low = await submitMany(50, () => ({ command: ['true'], priority: 0 }));
    const high = await submit({ command: ['true'], priority: 100 });
    const highDone = await waitFor(high.id);
    expect(highDone.state).toBe('succeeded');
    const lows = await Promise.all(low.map((l) => waitFor(l.id)));
    expect(lows.every((l) => l.state === 'succeeded')).toBe(true);
    const firstLowStart = Math.min(...lows.map((l) => new Date(l.startedAt!).getTime()));
    expect(new Date(highDone.startedAt!).getTime()).toBeLessThanOrEqual(firstLowStart);
  }, 120_000);

  it("shares between projects: B's single run, queued after A's 500, finishes before A's 50th", async () => {
    const a = await submitMany(500, () => ({ command: ['true'] }), 'proj-a', 25);
    const b = await submit({ command: ['true'] }, 'proj-b');
    const bDone = await waitFor(b.id, 'proj-b');
    expect(bDone.state).toBe('succeeded');
    const aFinishedBefore = await fleet.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM run WHERE project = 'proj-a' AND finished_at IS NOT NULL AND finished_at < $1`,
      [bDone.finishedAt],
    );
    expect(aFinishedBefore.rows[0]!.n).toBeLessThan(50);
    // the rest of A's is not this test's business: cancelled (each leaves the queue)
    await Promise.all(a.map((r) => fleet.admin.delete(`/runs/${r.id}?project=proj-a`).catch(() => undefined)));
    await eventually(
      async () => {
        const { rows } = await fleet.db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM run WHERE state IN ('queued', 'running')`,
        );
        return rows[0]!.n === 0 ? true : undefined;
      },
      30_000,
      'no run left queued or running',
    );
  }, 180_000);

  it('holds a project to its limit of runs at once, fleet-wide', async () => {
    const runs = await submitMany(6, () => ({ command: ['sleep', '1'] }), 'proj-b');
    let most = 0;
    const done = Promise.all(runs.map((r) => waitFor(r.id, 'proj-b')));
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      const { rows } = await fleet.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM run WHERE project = 'proj-b' AND state = 'running'`,
      );
      most = Math.max(most, rows[0]!.n);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await done).every((r) => r.state === 'succeeded')).toBe(true);
    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('fires a cron schedule (seconds-level) at least twice, lists it, and stops once it is removed', async () => {
    const made = await fleet.admin.post<{ schedule: RunScheduleView }>('/runs', {
      image: 'busybox',
      command: ['/bin/sh', '-c', 'echo tick'],
      timeoutSeconds: 10,
      schedule: '*/1 * * * * *',
    });
    const id = made.schedule.id;
    expect((await fleet.admin.get<{ schedules: RunScheduleView[] }>('/runs/schedules')).schedules.map((s) => s.id)).toContain(id);
    const fired = await eventually(
      async () => {
        const { runs } = await fleet.admin.get<{ runs: RunView[] }>('/runs?limit=1000');
        const ticks = runs.filter((r) => r.scheduleId === id && r.state === 'succeeded');
        return ticks.length >= 2 ? ticks : undefined;
      },
      15_000,
      'two runs of the schedule',
    );
    expect(fired.length).toBeGreaterThanOrEqual(2);
    await fleet.admin.delete(`/runs/schedules/${id}`);
    expect((await fleet.admin.get<{ schedules: RunScheduleView[] }>('/runs/schedules')).schedules).toEqual([]);
    await expect(fleet.admin.delete(`/runs/schedules/${id}`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // another project sees none of it
    expect((await fleet.admin.get<{ schedules: RunScheduleView[] }>('/runs/schedules?project=proj-a')).schedules).toEqual([]);
  }, 60_000);
});
