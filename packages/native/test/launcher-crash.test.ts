import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isSameProcess, readStartTime, type ContainerRuntime, type ExitStatus } from '@nagaya/native';

import { busyboxPlan, launcherPidOf, openTestRuntime, slice } from './helpers';

// Host ids for this file: 1_830_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_830_000_000;

function once<T extends unknown[]>(runtime: ContainerRuntime, event: string, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    runtime.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    });
  });
}

describe('a launcher that dies under a live runtime', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('launcher-crash'));
  });
  afterAll(async () => {
    await cleanup();
  });

  it('is replaced by a new one that adopts the containers; exec, exits and launches go on', async () => {
    const stays = await runtime.launch(busyboxPlan('stays', ['sleep', '600'], slice(BASE, 0)));
    const goes = await runtime.launch(busyboxPlan('goes', ['sleep', '600'], slice(BASE, 1)));
    const first = launcherPidOf(stateDir);

    const reconnected = once(runtime, 'reconnected');
    process.kill(first, 'SIGKILL');
    await reconnected;
    expect(launcherPidOf(stateDir)).not.toBe(first);
    expect(isSameProcess(stays.pid, stays.startTime)).toBe(true); // the containers did not notice

    expect((await runtime.exec('stays', ['hostname'])).stdout).toBe('stays\n');
    const exited = new Promise<ExitStatus>((resolve) =>
      runtime.on('exit', (id: string, status: ExitStatus) => id === 'goes' && resolve(status)),
    );
    process.kill(goes.pid, 'SIGKILL');
    // adopted, not its child: the new launcher sees the end but cannot know the status
    expect(await exited).toMatchObject({ lost: true });

    const after = await runtime.launch(busyboxPlan('after', ['sleep', '600'], slice(BASE, 2)));
    expect((await runtime.exec('after', ['hostname'])).stdout).toBe('after\n');
    expect((await runtime.stop('after', 500)).lost).toBe(false); // launched by the new launcher: its own child
    expect(isSameProcess(after.pid, after.startTime)).toBe(false);
  });

  it('kills a child the dead launcher cloned but never reported launched, so a retry cannot make a second one', async () => {
    // what a launcher killed mid-launch leaves: launching.json naming a live process, no state.json
    const halfLaunched = spawn('sleep', ['600'], { stdio: 'ignore' });
    const pid = halfLaunched.pid!;
    const startTime = readStartTime(pid);
    const dir = join(stateDir, 'containers', 'half');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'launching.json'), `${JSON.stringify({ id: 'half', pid, startTime, cgroupV2: false, cgroups: [] })}\n`);
    const ended = new Promise((resolve) => halfLaunched.on('exit', (_code, signal) => resolve(signal)));

    const reconnected = once(runtime, 'reconnected');
    process.kill(launcherPidOf(stateDir), 'SIGKILL');
    await reconnected;
    expect(await ended).toBe('SIGKILL');
    expect(existsSync(join(dir, 'launching.json'))).toBe(false);
    expect(runtime.status('half')).toMatchObject({ state: 'exited', exit: { lost: true } });
    // and the id launches normally afterwards
    await runtime.launch(busyboxPlan('half', ['sleep', '600'], slice(BASE, 3)));
    expect(runtime.status('half').state).toBe('running');
  });
});
