// Stops and deletes as a user meets them: deleting a running container takes force (SIGKILL at
// once), an init makes SIGTERM work for a PID 1 that ignores it, a stop's signal and grace time
// are the container's own, and stops that wait out a grace time do not hold up the node's queue.
import { ApiError, type ContainerView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, waitRunning, type TestFleet } from './support/test-server';

let fleet: TestFleet;

beforeAll(async () => {
  // two worker slots: a queue held by stops in their grace time would show at once
  fleet = await startTestFleet({ slices: 16, env: { NAGAYA_WORKER_CONCURRENCY: '2' } });
}, 60_000);
afterAll(async () => fleet?.stop());

const get = (name: string) => fleet.admin.get<ContainerView>(`/containers/${name}`);
const sleeper = (name: string, extra: Record<string, unknown> = {}) =>
  fleet.admin.post('/containers', { name, image: 'busybox', command: ['sleep', '600'], ...extra });

describe('stops and deletes', () => {
  it('refuses to delete a running container without force, and kills it at once with force', async () => {
    await sleeper('victim');
    await waitRunning(fleet, 'victim');
    const refused = (await fleet.admin.delete('/containers/victim').catch((e: unknown) => e)) as ApiError;
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused.code).toBe('CONFLICT');
    expect(refused.message).toMatch(/force/);
    expect((await get('victim')).state).toBe('running');
    const started = Date.now();
    const { job } = await fleet.admin.delete<{ job: { id: string } }>('/containers/victim?force=1');
    expect((await fleet.admin.waitForJob(job.id)).state).toBe('completed');
    // busybox sleep as PID 1 ignores SIGTERM: only a SIGKILL ends it this soon
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(((await get('victim').catch((e: unknown) => e)) as ApiError).code).toBe('NOT_FOUND');
  });

  it('stops an init container on SIGTERM at once, and shows its stop settings', async () => {
    await sleeper('with-init', { init: true, stopSignal: 'SIGTERM', stopTimeoutSeconds: 30 });
    const running = await waitRunning<ContainerView>(fleet, 'with-init');
    expect(running).toMatchObject({ init: true, stopSignal: 'SIGTERM', stopTimeoutSeconds: 30 });
    const started = Date.now();
    const { job } = await fleet.admin.post<{ job: { id: string } }>('/containers/with-init/stop', {});
    await fleet.admin.waitForJob(job.id);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await get('with-init')).toMatchObject({ state: 'stopped' });
  });

  it("sends the container's own stop signal", async () => {
    // a shell that ends cleanly on SIGINT only: the stop must not need its grace time
    await fleet.admin.post('/containers', {
      name: 'on-int',
      image: 'busybox',
      command: ['/bin/sh', '-c', 'trap "exit 0" INT; while :; do sleep 1; done'],
      stopSignal: 'SIGINT',
      stopTimeoutSeconds: 20,
    });
    await waitRunning(fleet, 'on-int');
    const started = Date.now();
    const { job } = await fleet.admin.post<{ job: { id: string } }>('/containers/on-int/stop', {});
    await fleet.admin.waitForJob(job.id);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await get('on-int')).toMatchObject({ state: 'stopped', exitCode: 0 });
  });

  it('keeps the queue moving while stops wait out their grace time', async () => {
    const names = ['slow-0', 'slow-1', 'slow-2', 'slow-3'];
    for (const name of names) await sleeper(name);
    for (const name of names) await waitRunning(fleet, name);
    const started = Date.now();
    const jobs = await Promise.all(
      names.map(async (name) => (await fleet.admin.post<{ job: { id: string } }>(`/containers/${name}/stop`, { timeoutSeconds: 3 })).job),
    );
    // four stops of 3 s each on two slots: a launch queued now runs long before they end
    await sleeper('meanwhile');
    await waitRunning(fleet, 'meanwhile');
    expect(Date.now() - started).toBeLessThan(2_500);
    await Promise.all(jobs.map((j) => fleet.admin.waitForJob(j.id, 20_000)));
    // together, not two at a time: about one grace time, not two
    expect(Date.now() - started).toBeLessThan(5_500);
    for (const name of names) expect((await get(name)).state).toBe('stopped');
    await eventually(async () => ((await get('slow-0')).exitSignal === 'SIGKILL' ? true : undefined), 5_000, 'the kill recorded');
  });
});
