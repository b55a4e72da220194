import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NativeError, type ContainerRuntime } from '@nagaya/native';

import { busyboxPlan, openTestRuntime, slice } from './helpers';

// Host ids for this file: 1_980_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_980_000_000;

describe("the image's user and command", () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('run-user'));
  });
  afterAll(async () => cleanup());

  it('runs the command as the plan user, with no capabilities left, its files owned by that user', async () => {
    const script =
      'echo ids=$(id -u):$(id -g):$(id -G); grep CapEff /proc/self/status; touch /tmp/mine; stat -c owner=%u:%g /tmp/mine; cat /etc/shadow 2>/dev/null || echo shadow-denied; chown 0 /tmp/mine 2>/dev/null || echo chown-denied';
    await runtime.launch({ ...busyboxPlan('as-1000', ['sh', '-c', script], slice(BASE, 0)), user: { uid: 1000, gid: 1001 } });
    expect((await runtime.wait('as-1000')).exitCode).toBe(0);
    const log = readFileSync(join(stateDir, 'containers', 'as-1000', 'console.log'), 'utf8');
    expect(log).toContain('ids=1000:1001:1001\n');
    expect(log).toMatch(/CapEff:\s+0000000000000000\n/);
    expect(log).toContain('owner=1000:1001\n');
    expect(log).toContain('chown-denied');
  });

  it('runs an exec as the user it names, without capabilities', async () => {
    await runtime.launch(busyboxPlan('exec-as', ['sleep', '600'], slice(BASE, 5)));
    const as = await runtime.exec('exec-as', ['sh', '-c', 'echo $(id -u):$(id -g); grep CapEff /proc/self/status'], {
      user: { uid: 33, gid: 34 },
    });
    expect(as.stdout).toMatch(/^33:34\nCapEff:\s+0000000000000000\n$/);
    expect((await runtime.exec('exec-as', ['id', '-u'])).stdout).toBe('0\n');
    await runtime.stop('exec-as', 0);
  });

  it('keeps root, with its capabilities, when the plan names no user', async () => {
    await runtime.launch(busyboxPlan('as-root', ['sh', '-c', 'echo ids=$(id -u):$(id -g); grep CapEff /proc/self/status'], slice(BASE, 1)));
    expect((await runtime.wait('as-root')).exitCode).toBe(0);
    const log = readFileSync(join(stateDir, 'containers', 'as-root', 'console.log'), 'utf8');
    expect(log).toContain('ids=0:0\n');
    expect(log).not.toMatch(/CapEff:\s+0000000000000000/);
  });

  it('refuses IDs beyond the slice in the plan', async () => {
    const err = await runtime.launch({ ...busyboxPlan('too-high', ['true'], slice(BASE, 2)), user: { uid: 65536, gid: 0 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NativeError);
    expect((err as NativeError).code).toBe('INVALID_PLAN');
  });

  it('names the command that is not in the image, and the paths it tried', async () => {
    const err = await runtime.launch(busyboxPlan('no-entry', ['/docker-entrypoint.sh', 'x'], slice(BASE, 3))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NativeError);
    expect((err as NativeError).message).toMatch(/cannot run "\/docker-entrypoint\.sh": not found in the image/);
    expect((err as NativeError).code).toBe('ENOENT');
    const searched = await runtime.launch(busyboxPlan('no-cmd', ['nginx'], slice(BASE, 4))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((searched as NativeError).message).toMatch(
      /cannot run "nginx": not found in the image \(tried \/usr\/local\/sbin\/nginx, .*\/bin\/nginx\)/,
    );
  });
});
