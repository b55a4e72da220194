import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PIDS_MAX } from '@nagaya/native';
import { startTestFleet, type TestFleet } from './support/test-server';
import { eventually } from './support/test-helpers';

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 8, env: { NAGAYA_CONSOLE_LOG_MAX_BYTES: String(64 * 1024) } });
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
    const pids = readFileSync(`/proc/${c.pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.split(':')[1]!.split(',').includes('pids'));
    const dir = pids
      ? `/sys/fs/cgroup/pids${pids.split(':')[2]}`
      : `/sys/fs/cgroup${readFileSync(`/proc/${c.pid}/cgroup`, 'utf8').trim().slice(3)}`;
    expect(readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe(String(DEFAULT_PIDS_MAX));
    await fleet.admin.waitForJob((await fleet.admin.delete<{ job: { id: string } }>('/containers/bounded?force=1')).job.id);
  });

  it('the reconciler gives a running container without a pids bound of its own one, with all its processes', async () => {
    await fleet.admin.post('/containers', { name: 'legacy', image: 'busybox', limits: { pids: 123 } });
    const c = await eventually(async () => {
      const v = await fleet.admin.get<{ state: string; pid: number }>('/containers/legacy');
      return v.state === 'running' ? v : undefined;
    });
    const line = readFileSync(`/proc/${c.pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.split(':')[1]!.split(',').includes('pids'))!;
    const dir = `/sys/fs/cgroup/pids${line.split(':')[2]}`;
    // as a container launched before every container had its pids cgroup: in its launcher's cgroup
    const launcher = readFileSync(`${fleet.api.worker!.runtime.stateDir}/launcher.pid`, 'utf8').split(' ')[0];
    const outer = readFileSync(`/proc/${launcher}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.split(':')[1]!.split(',').includes('pids'))!
      .split(':')[2];
    const procs = readFileSync(`${dir}/cgroup.procs`, 'utf8').trim().split('\n');
    for (const pid of procs) writeFileSync(`/sys/fs/cgroup/pids${outer}/cgroup.procs`, pid);
    rmdirSync(dir);
    // this pass repairs it, or the periodic one if it came first: the cgroup is back either way
    await fleet.api.worker!.reconciler.run();
    expect(readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe('123'); // the row's own limit
    expect(readFileSync(`${dir}/cgroup.procs`, 'utf8').trim().split('\n').sort()).toEqual([...procs].sort());
    expect((await fleet.api.worker!.reconciler.run()).unbounded).toBe(0);
    await fleet.admin.waitForJob((await fleet.admin.delete<{ job: { id: string } }>('/containers/legacy?force=1')).job.id);
  });

  it('the reconciler removes cgroups whose container is gone', async () => {
    const worker = fleet.api.worker!;
    const roots = await worker.runtime.cgroupRoots();
    for (const root of roots) mkdirSync(`${root}/0d9c1a3e-1b6e-4c1e-9a51-5f1a2b3c4d5e`); // as a launcher killed mid-cleanup leaves it
    // this pass, or the periodic one if it came first, removes them (nothing else does)
    await worker.reconciler.run();
    for (const root of roots) expect(existsSync(`${root}/0d9c1a3e-1b6e-4c1e-9a51-5f1a2b3c4d5e`)).toBe(false);
  });
});

describe('the console log', () => {
  it('stays within NAGAYA_CONSOLE_LOG_MAX_BYTES when a container writes 5 times as much, and the logs endpoint shows its newest lines', async () => {
    await fleet.admin.post('/containers', { name: 'chatty', image: 'busybox', command: ['sh', '-c', 'seq 1 60000; exec sleep 600'] });
    await eventually(async () => {
      const l = await fleet.admin.get<{ log: string; truncated: boolean }>('/containers/chatty/logs?tail=1');
      return l.log === '60000\n' ? l : undefined;
    });
    const { id } = (await fleet.db.pool.query<{ id: string }>("SELECT id::text FROM container WHERE name = 'chatty'")).rows[0]!;
    const dir = join(fleet.api.worker!.runtime.stateDir, 'containers', id);
    // the launcher's log watcher rotates as it sees the file grow: on a loaded machine the last
    // rotation may come a moment after the logs endpoint already shows the last line
    await expect.poll(() => statSync(join(dir, 'console.log')).size, { timeout: 5000 }).toBeLessThanOrEqual(64 * 1024);
    expect(statSync(join(dir, 'console.log.1')).size).toBeLessThanOrEqual(64 * 1024);
    // tail counts whole lines: all that the two files keep, none cut in half, none lost at the cut
    const logs = await fleet.admin.get<{ log: string; truncated: boolean }>('/containers/chatty/logs?tail=100000');
    const lines = logs.log.split('\n').slice(0, -1).map(Number);
    expect(lines.at(-1)).toBe(60000);
    expect(lines.length).toBeGreaterThan(10_000); // console.log.1 and console.log, joined
    expect(lines).toEqual(lines.map((_, i) => lines[0]! + i));
    expect(logs.log.length).toBeLessThanOrEqual(2 * 64 * 1024); // all that is kept: the two files
    await fleet.admin.waitForJob((await fleet.admin.delete<{ job: { id: string } }>('/containers/chatty?force=1')).job.id);
  });
});
