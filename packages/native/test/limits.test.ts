import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_PIDS_MAX, type ContainerRuntime } from '@nagaya/native';

import { busyboxPlan, cgroupDirOf, launcherPidOf, leftoverCgroups, openTestRuntime, sleep, slice } from './helpers';

// Host ids for this file: 1_600_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_600_000_000;

describe('cgroup limits', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('limits'));
  });
  afterAll(async () => cleanup());

  it('OOM-kills a container that exceeds its memory limit and records it', async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion run in the container
    const grow = 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived ${#x}';
    const c = await runtime.launch(busyboxPlan('oom', ['sh', '-c', grow], slice(BASE, 0), { limits: { memoryBytes: 32 * 1024 * 1024 } }));
    const status = await runtime.wait('oom');
    expect(status).toMatchObject({ oomKilled: true, signal: 'SIGKILL' });
    expect(runtime.status('oom').exit?.oomKilled).toBe(true);
    // The cgroup (under the launcher's own cgroup) is removed once the container has exited.
    expect(c.pid).toBeGreaterThan(0);
    expect(leftoverCgroups(runtime.status('oom').launcherPid as number, 'oom')).toEqual([]);
  });

  it('stops a fork bomb at the pids limit', async () => {
    const c = await runtime.launch(
      // the bomb goes off in a subshell, forked while nothing else runs: the main shell itself
      // forked each pipeline element, and when the bomb had filled the limit before its second
      // fork, ash (non-interactive) exited on "can't fork", taking the container with it
      busyboxPlan('bomb', ['sh', '-c', '(b() { b | b & }; b) & exec sleep 600'], slice(BASE, 1), { limits: { pids: 24 } }),
    );
    const dir = cgroupDirOf(c.pid, 'pids');
    let highest = 0;
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      highest = Math.max(highest, Number(readFileSync(`${dir}/pids.current`, 'utf8')));
    }
    expect(highest).toBeLessThanOrEqual(24);
    expect(readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe('24');
    expect(readFileSync(`${dir}/pids.events`, 'utf8')).toMatch(/max [1-9]/);
    const status = await runtime.stop('bomb', 0);
    expect(status.signal).toBe('SIGKILL');
    expect(existsSync(dir)).toBe(false);
  });

  it('applies memory, pids and cpu limits to the container and to exec', async () => {
    const c = await runtime.launch(
      busyboxPlan('limited', ['sleep', '600'], slice(BASE, 2), { limits: { memoryBytes: 64 * 1024 * 1024, pids: 50, cpus: 0.5 } }),
    );
    const memory = cgroupDirOf(c.pid, 'memory');
    const cpu = cgroupDirOf(c.pid, 'cpu');
    if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      expect(readFileSync(`${memory}/memory.max`, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
      expect(readFileSync(`${cpu}/cpu.max`, 'utf8').trim()).toBe('50000 100000');
    } else {
      expect(readFileSync(`${memory}/memory.limit_in_bytes`, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
      expect(readFileSync(`${cpu}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('50000');
    }
    expect(memory).toMatch(/\/nagaya\/[0-9a-f]{8}\/limited$/);
    const r = await runtime.exec('limited', ['cat', '/proc/self/cgroup']);
    // Inside its cgroup namespace the container's cgroups are the root.
    expect(r.stdout).toMatch(/memory:\/$/m);
    await runtime.stop('limited', 0);
    expect(existsSync(memory)).toBe(false);
  });

  it('gives a container launched without limits its own pids cgroup, where the 5,000 forks asked for fail', async () => {
    // 5,000 `sleep 100` at once (forks run at about 200/s on the test VM: this takes ~20 s)
    const script = 'yes 100 | head -n 5000 | xargs -P 5000 -n 1 sleep';
    const c = await runtime.launch(busyboxPlan('unlimited', ['sh', '-c', script], slice(BASE, 3)));
    const dir = cgroupDirOf(c.pid, 'pids');
    expect(dir).toMatch(/\/nagaya\/[0-9a-f]{8}\/unlimited$/);
    expect(readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe(String(DEFAULT_PIDS_MAX));
    let highest = 0;
    let refused = 0;
    for (const started = Date.now(); refused === 0 && Date.now() - started < 100_000; await sleep(250)) {
      highest = Math.max(highest, Number(readFileSync(`${dir}/pids.current`, 'utf8')));
      refused = Number(/^max (\d+)/m.exec(readFileSync(`${dir}/pids.events`, 'utf8'))?.[1]);
    }
    expect(refused).toBeGreaterThan(0); // the kernel refused forks at the bound...
    highest = Math.max(highest, Number(readFileSync(`${dir}/pids.current`, 'utf8')));
    expect(highest).toBe(DEFAULT_PIDS_MAX); // ...once the container had exactly that many tasks
    await runtime.stop('unlimited', 0);
    expect(existsSync(dir)).toBe(false);
  }, 120_000);

  it('gives a container launched without limits memory and CPU accounting cgroups too (v1), so its usage can be read, and removes them at exit', async () => {
    const c = await runtime.launch(busyboxPlan('counted', ['sh', '-c', 'exec sleep 600'], slice(BASE, 6)));
    const recorded = runtime.status('counted').cgroups ?? [];
    if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      expect(recorded).toEqual([cgroupDirOf(c.pid, 'pids')]); // v2: one directory counts all
    } else {
      for (const controller of ['memory', 'pids', 'cpuacct']) {
        const dir = cgroupDirOf(c.pid, controller);
        expect(dir, controller).toMatch(/\/nagaya\/[0-9a-f]{8}\/counted$/);
        expect(recorded).toContain(dir);
      }
      // no limit written: the memory cgroup counts and does not cap
      expect(Number(readFileSync(`${cgroupDirOf(c.pid, 'memory')}/memory.limit_in_bytes`, 'utf8'))).toBeGreaterThan(2 ** 60);
    }
    await runtime.stop('counted', 0);
    expect(leftoverCgroups(runtime.status('counted').launcherPid as number, 'counted')).toEqual([]);
  });

  it('prunes cgroups that no container of the launcher owns, and keeps those that one does', async () => {
    const c = await runtime.launch(busyboxPlan('keeper', ['sleep', '600'], slice(BASE, 4)));
    const roots = await runtime.cgroupRoots();
    expect(roots.length).toBeGreaterThan(0);
    for (const root of roots) mkdirSync(`${root}/ghost`); // what a launcher that died mid-cleanup leaves
    const removed = await runtime.pruneCgroups();
    expect(removed.sort()).toEqual(roots.map((r) => `${r}/ghost`).sort());
    for (const root of roots) expect(existsSync(`${root}/ghost`)).toBe(false);
    expect(existsSync(cgroupDirOf(c.pid, 'pids'))).toBe(true);
    expect(runtime.status('keeper').cgroups).toContain(cgroupDirOf(c.pid, 'pids'));
    await runtime.stop('keeper', 0);
  });

  it('gives a running container that lost its pids cgroup (as one launched before every container had one) a new one, with all its processes', async () => {
    const c = await runtime.launch(busyboxPlan('legacy', ['sh', '-c', 'sleep 600 & sleep 600 & wait'], slice(BASE, 5)));
    const dir = cgroupDirOf(c.pid, 'pids');
    const procs = () => readFileSync(`${dir}/cgroup.procs`, 'utf8').trim().split('\n').filter(Boolean).map(Number).sort();
    for (let i = 0; i < 100 && procs().length < 3; i++) await sleep(20);
    const before = procs();
    expect(before).toHaveLength(3);
    // the layout before: the container's processes in the launcher's own cgroup, no cgroup of its own
    const launcherCgroup = cgroupDirOf(launcherPidOf(stateDir), 'pids');
    for (const pid of before) writeFileSync(`${launcherCgroup}/cgroup.procs`, String(pid));
    rmdirSync(dir);

    await runtime.boundPids('legacy', 77);
    expect(readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe('77');
    expect(procs()).toEqual(before);
    await runtime.boundPids('legacy', 99); // bounded already: nothing changes
    expect(readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe('77');
    await runtime.stop('legacy', 0);
    expect(existsSync(dir)).toBe(false);
  });
});
