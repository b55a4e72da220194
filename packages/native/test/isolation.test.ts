import { chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isSameProcess, type ContainerRuntime } from '@nagaya/native';

import { busyboxPlan, openTestRuntime, slice } from './helpers';

// Host ids for this file: 1_500_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_500_000_000;

describe('isolation between host and containers', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('isolation'));
  });
  afterAll(async () => cleanup());

  it('container root cannot read a 0600 file that is not its own, but can read its own', async () => {
    const upper = join(stateDir, 'containers', 'secrets', 'upper');
    mkdirSync(upper, { recursive: true });
    const hostRoot = BASE;
    const otherRoot = BASE + 5 * 65536;
    const files: Array<[string, number]> = [
      ['host-root-secret', 0],
      ['other-container-secret', otherRoot],
      ['own-secret', hostRoot],
    ];
    for (const [name, owner] of files) {
      writeFileSync(join(upper, name), `${name}\n`, { mode: 0o600 });
      chownSync(join(upper, name), owner, owner);
    }
    const script = `${files.map(([name]) => `cat /${name} 2>&1 || echo denied:${name}`).join('; ')}; ls -ln /host-root-secret`;
    await runtime.launch(busyboxPlan('secrets', ['sh', '-c', script], slice(BASE, 0)));
    await runtime.wait('secrets');
    const log = (await import('node:fs')).readFileSync(join(stateDir, 'containers', 'secrets', 'console.log'), 'utf8');
    expect(log).toContain('denied:host-root-secret');
    expect(log).toContain('denied:other-container-secret');
    expect(log).not.toContain('host-root-secret\n' + 'denied'); // content never printed
    expect(log).not.toMatch(/^host-root-secret$/m);
    expect(log).not.toMatch(/^other-container-secret$/m);
    expect(log).toMatch(/^own-secret$/m);
    expect(log).toMatch(/-rw-------\s+1 65534\s+65534/); // host root shows as the overflow id
  });

  it('two containers with different slices cannot see or signal each other', async () => {
    const a = await runtime.launch(busyboxPlan('iso-a', ['sleep', '600'], slice(BASE, 1)));
    const b = await runtime.launch(busyboxPlan('iso-b', ['sleep', '600'], slice(BASE, 2)));
    expect(statSync(`/proc/${a.pid}`).uid).toBe(BASE + 65536);
    expect(statSync(`/proc/${b.pid}`).uid).toBe(BASE + 2 * 65536);

    const seen = await runtime.exec('iso-a', [
      'sh',
      '-c',
      `ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '; echo; kill -9 ${b.pid} 2>&1; echo kill=$?`,
    ]);
    const [pids, ...rest] = seen.stdout.trim().split('\n');
    expect(pids.split(' ').filter(Boolean).map(Number)).not.toContain(b.pid);
    expect(
      pids
        .split(' ')
        .filter(Boolean)
        .map(Number)
        .every((p) => p < 100),
    ).toBe(true);
    expect(rest.join('\n')).toMatch(/kill=1/);

    // Signal everything container A's root can reach: nothing outside A.
    await runtime.exec('iso-a', ['sh', '-c', 'kill -9 -1; true']);
    expect(isSameProcess(b.pid, b.startTime)).toBe(true);
    const inB = await runtime.exec('iso-b', ['sh', '-c', 'ps -o pid,comm | grep -c sleep']);
    expect(inB.stdout.trim()).toBe('1');

    await runtime.stop('iso-a', 0);
    await runtime.stop('iso-b', 0);
  });
});
