import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ContainerRuntime, isSameProcess, processHasIdMaps, type IdMapLine } from '@nagaya/native';

import { busyboxPlan, launcherPidOf, openTestRuntime, sleep, slice } from './helpers';

// Host ids for this file: 1_850_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_850_000_000;

describe('launcher restart', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('restart'));
  });
  // cleanup() shuts down the first runtime's launcher; the test replaces both, so stop the new one.
  afterAll(async () => {
    await runtime.shutdown().catch(() => runtime.close());
    await cleanup();
  });

  it('a new launcher finds running containers again and records the end of the others as lost', async () => {
    const keeper = await runtime.launch(busyboxPlan('keeper', ['sleep', '600'], slice(BASE, 0)));
    await runtime.launch(busyboxPlan('quitter', ['sh', '-c', 'sleep 0.3'], slice(BASE, 1)));
    const launcherPid = launcherPidOf(stateDir);
    runtime.close();
    process.kill(launcherPid, 'SIGKILL');
    await sleep(600); // the quitter exits while no launcher watches it
    expect(isSameProcess(keeper.pid, keeper.startTime)).toBe(true);

    runtime = await ContainerRuntime.open({ stateDir });
    expect(runtime.status('quitter')).toMatchObject({ state: 'exited', exit: { lost: true, exitCode: null } });
    const records = await runtime.adopt();
    expect(records.find((r) => r.id === 'keeper')).toMatchObject({ state: 'running', pid: keeper.pid });
    const exec = await runtime.exec('keeper', ['hostname']);
    expect(exec.stdout).toBe('keeper\n');
    const status = await runtime.stop('keeper', 0);
    expect(status).toMatchObject({ lost: true });
    expect(isSameProcess(keeper.pid, keeper.startTime)).toBe(false);
    expect(runtime.status('keeper').state).toBe('exited');
  });

  it('tells a container by the id maps the kernel holds for its init, as a worker checks before adopting it', async () => {
    const host = BASE + 2 * 65536;
    const uidMap: IdMapLine[] = [
      { nsId: 0, hostId: host, count: 1000 },
      { nsId: 1000, hostId: host + 1000, count: 64536 },
    ];
    const gidMap = slice(BASE, 2);
    const c = await runtime.launch(busyboxPlan('mapped', ['sleep', '600'], uidMap, { gidMap }));
    expect(processHasIdMaps(c.pid, c.startTime, uidMap, gidMap)).toBe(true);
    expect(processHasIdMaps(c.pid, c.startTime, [...uidMap].reverse(), gidMap)).toBe(true);
    // the same ids cut into other lines are another map
    expect(processHasIdMaps(c.pid, c.startTime, gidMap, gidMap)).toBe(false);
    expect(processHasIdMaps(c.pid, c.startTime, uidMap, uidMap)).toBe(false);
    expect(processHasIdMaps(c.pid, c.startTime, slice(BASE, 3), slice(BASE, 3))).toBe(false);
    expect(processHasIdMaps(c.pid, String(Number(c.startTime) + 1), uidMap, gidMap)).toBe(false);
    await runtime.stop('mapped', 0);
    expect(processHasIdMaps(c.pid, c.startTime, uidMap, gidMap)).toBe(false);
  });
});
