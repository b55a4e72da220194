import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSameProcess, readStartTime } from '@nagaya/native';
import { launcherPidOf } from '../../native/test/helpers';
import { eventually, startTestFleet, type TestFleet } from './support/test-server';

interface Container {
  name: string;
  state: string;
  pid: number | null;
  exitSignal: string | null;
  error: { code: string } | null;
}

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await startTestFleet({ slices: 16 });
});
afterAll(async () => {
  await fleet?.stop();
});

const get = (name: string) => fleet.admin.get<Container>(`/containers/${name}`);
const inState = (name: string, state: string) =>
  eventually(
    async () => {
      const c = await get(name);
      return c.state === state ? c : undefined;
    },
    30_000,
    `${name} ${state}`,
  );

describe('the launcher killed under a running worker', () => {
  it('is replaced: running containers stay managed, one that died meanwhile is recorded, new ones launch', async () => {
    await fleet.admin.post('/containers', { name: 'survivor', image: 'busybox' });
    await fleet.admin.post('/containers', { name: 'casualty', image: 'busybox' });
    const survivor = await inState('survivor', 'running');
    const survivorStart = readStartTime(survivor.pid!)!;
    const casualty = await inState('casualty', 'running');

    const stateDir = join(fleet.dataDir, 'data', 'runtime', 'node-a');
    const first = launcherPidOf(stateDir);
    process.kill(first, 'SIGKILL');
    process.kill(casualty.pid!, 'SIGKILL'); // ends while no launcher watches it

    // the worker's runtime starts a new launcher, and the reconciler records what ended meanwhile
    await eventually(async () => (launcherPidOf(stateDir) !== first ? true : undefined), 15_000, 'a new launcher');
    // nobody saw it end, and its policy (no) does not bring it back: stopped, and why
    const ended = await inState('casualty', 'stopped');
    expect(ended.pid).toBeNull();
    expect(ended.error?.code).toBe('NODE_REBOOT');

    // the survivor is still the same process and still fully managed
    expect((await get('survivor')).pid).toBe(survivor.pid);
    const exec = await fleet.admin.post<{ stdout: string }>('/containers/survivor/exec', { command: ['hostname'] });
    expect(exec.stdout.trim()).toBe('survivor');
    const stop = await fleet.admin.post<{ job: { id: string } }>('/containers/survivor/stop', { timeoutSeconds: 1 });
    expect((await fleet.admin.waitForJob(stop.job.id)).state).toBe('completed');
    // (ended; a zombie until init reaps it, since its parent was the dead launcher)
    expect(isSameProcess(survivor.pid!, survivorStart)).toBe(false);

    // and new containers launch through the new launcher
    await fleet.admin.post('/containers', { name: 'newcomer', image: 'busybox' });
    await inState('newcomer', 'running');
  });
});
