import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PIDS_MAX } from '@nagaya/native';
import { startTestFleet, type TestFleet } from './support/test-server';
import { eventually } from './support/test-helpers';

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 8 });
});
afterAll(async () => {
  await fleet?.stop();
});

describe('limits by default', () => {
  it('records pids.max on a container created without limits and runs it in a pids cgroup of its own', async () => {
    await fleet.admin.post('/containers', { name: 'bounded', image: 'busybox' });
    const c = await eventually(async () => {
      const v = await fleet.admin.get<{ state: string; pid: number; limits: { pids?: number } }>('/containers/bounded');
      return v.state === 'running' ? v : undefined;
    });
    expect(c.limits.pids).toBe(DEFAULT_PIDS_MAX);
    const pids = readFileSync(`/proc/${c.pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]!.split(',').includes('pids'));
    const dir = pids ? `/sys/fs/cgroup/pids${pids.split(':')[2]}` : `/sys/fs/cgroup${readFileSync(`/proc/${c.pid}/cgroup`, 'utf8').trim().slice(3)}`;
    expect(readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe(String(DEFAULT_PIDS_MAX));
    await fleet.admin.waitForJob((await fleet.admin.delete<{ job: { id: string } }>('/containers/bounded')).job.id);
  });

  it('the reconciler removes cgroups whose container is gone', async () => {
    const worker = fleet.api.worker!;
    const roots = await worker.runtime.cgroupRoots();
    for (const root of roots) mkdirSync(`${root}/0d9c1a3e-1b6e-4c1e-9a51-5f1a2b3c4d5e`); // as a launcher killed mid-cleanup leaves it
    const report = await worker.reconciler.run();
    expect(report.cgroups).toBe(roots.length);
    for (const root of roots) expect(existsSync(`${root}/0d9c1a3e-1b6e-4c1e-9a51-5f1a2b3c4d5e`)).toBe(false);
  });
});

