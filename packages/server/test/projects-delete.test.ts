import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from './support/test-server';
import { refusal } from './support/test-helpers';
import { countRows } from './support/project-helpers';

// A project is deleted only when empty: its unfinished runs (rows that ON DELETE CASCADE would
// drop under a waiting job) and its run schedules (in Redis, beyond the cascade) keep it.

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 8 });
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
});

describe('deleting a project with runs', () => {
  it('refuses while a delayed run waits, and deletes once it is cancelled', async () => {
    await fleet.admin.post('/projects', { name: 'waiting' });
    const { run } = await fleet.admin.post<{ run: { id: string; state: string } }>('/runs?project=waiting', {
      image: 'busybox',
      command: ['true'],
      timeoutSeconds: 30,
      delaySeconds: 3600,
    });
    expect(run.state).toBe('queued');
    const blocked = await refusal(fleet.admin.delete('/projects/waiting'));
    expect([blocked.status, blocked.code]).toEqual([409, 'CONFLICT']);
    expect(blocked.details).toEqual({ containers: 0, images: 0, volumes: 0, tokens: 0, runs: 1, schedules: 0 });
    expect(blocked.message).toMatch(/holds 1 runs/);
    expect((await fleet.admin.get<{ state: string }>(`/runs/${run.id}?project=waiting`)).state).toBe('queued');

    await fleet.admin.delete(`/runs/${run.id}?project=waiting`);
    await fleet.admin.delete('/projects/waiting');
    expect((await refusal(fleet.admin.get('/projects/waiting'))).code).toBe('NOT_FOUND');
    expect(await countRows(fleet, "SELECT count(*) AS n FROM run WHERE project = 'waiting'")).toBe(0);
  });

  it('refuses while a run schedule exists, and deletes once it is removed', async () => {
    await fleet.admin.post('/projects', { name: 'cron' });
    const { schedule } = await fleet.admin.post<{ schedule: { id: string } }>('/runs?project=cron', {
      image: 'busybox',
      command: ['true'],
      timeoutSeconds: 30,
      schedule: '0 0 1 1 *',
    });
    const blocked = await refusal(fleet.admin.delete('/projects/cron'));
    expect([blocked.status, blocked.code]).toEqual([409, 'CONFLICT']);
    expect(blocked.details).toEqual({ containers: 0, images: 0, volumes: 0, tokens: 0, runs: 0, schedules: 1 });
    expect(blocked.message).toMatch(/holds 1 schedules/);
    const listed = await fleet.admin.get<{ schedules: Array<{ id: string }> }>('/runs/schedules?project=cron');
    expect(listed.schedules.map((s) => s.id)).toEqual([schedule.id]);

    await fleet.admin.delete(`/runs/schedules/${schedule.id}?project=cron`);
    await fleet.admin.delete('/projects/cron');
    expect((await refusal(fleet.admin.get('/projects/cron'))).code).toBe('NOT_FOUND');
    const every = await fleet.admin.get<{ schedules: Array<{ project: string }> }>('/runs/schedules?all-projects=true');
    expect(every.schedules.filter((s) => s.project === 'cron')).toEqual([]);
  });
});
