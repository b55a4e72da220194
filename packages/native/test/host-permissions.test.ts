import { chmodSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ContainerRuntime } from '@nagaya/native';

import { busyboxPlan, openTestRuntime, slice } from './helpers';
import { runAsNobody } from './support/as-nobody';

// Host ids for this file: 1_700_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_700_000_000;
const SECRET = 'DB_PASSWORD=hunter2-not-for-nobody';

/** What `nobody` gets trying fs.readFileSync, fs.readdirSync or spawning a path: 'ok' or the errno code. */
function probeAsNobody(kind: 'read' | 'list' | 'exec', path: string): string {
  const action = {
    read: 'fs.readFileSync(p)',
    list: 'fs.readdirSync(p)',
    exec: 'const r = require("node:child_process").spawnSync(p, ["-u"]); if (r.error) throw r.error; if (r.status !== 0) throw { code: "exit " + r.status }',
  }[kind];
  const r = runAsNobody(process.execPath, [
    '-e',
    `const fs = require("node:fs"); const p = process.argv[1]; try { ${action}; console.log("ok") } catch (e) { console.log(e.code) }`,
    path,
  ]);
  return r.stdout.trim();
}

describe('host-side permissions of the state directory', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;
  let dir: string;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('perms'));
    // Let nobody reach the state directory itself, so the only walls it meets are the runtime's own.
    chmodSync(dirname(stateDir), 0o711);
    // Container root plants a setuid copy of busybox (as `id`) in its writable layer.
    const plan = busyboxPlan('planted', ['sh', '-c', 'cp /bin/busybox /id && chmod 4755 /id && echo planted'], slice(BASE, 0), {
      env: [SECRET],
    });
    await runtime.launch(plan);
    expect(await runtime.wait('planted')).toMatchObject({ exitCode: 0 });
    dir = join(stateDir, 'containers', 'planted');
  });
  afterAll(async () => cleanup());

  it('creates the directories 0700 and the records 0600, the logs 0640', () => {
    const mode = (path: string) => (statSync(path).mode & 0o7777).toString(8);
    expect(mode(stateDir)).toBe('700');
    expect(mode(join(stateDir, 'containers'))).toBe('700');
    expect(mode(dir)).toBe('700');
    for (const record of ['plan.json', 'state.json', 'exit.json']) expect([record, mode(join(dir, record))]).toEqual([record, '600']);
    expect(mode(join(dir, 'console.log'))).toBe('640');
    expect(mode(join(stateDir, 'launcher.log'))).toBe('640');
    expect(readFileSync(join(dir, 'plan.json'), 'utf8')).toContain(SECRET);
    expect(readFileSync(join(dir, 'console.log'), 'utf8')).toContain('planted');
  });

  it('keeps nobody from reading plan.json, listing containers/ and running what a container planted', () => {
    const planted = join(dir, 'upper', 'id');
    const st = statSync(planted);
    expect(st.mode & 0o4000).toBe(0o4000); // the setuid file is really there...
    expect(st.uid).toBe(BASE); // ...owned by the container's root
    expect(probeAsNobody('read', join(dir, 'plan.json'))).toBe('EACCES');
    expect(probeAsNobody('list', join(stateDir, 'containers'))).toBe('EACCES');
    expect(probeAsNobody('exec', planted)).toBe('EACCES');
  });

  it('probes that would see the holes of a 0711 state directory (the layout before)', () => {
    const lowered = [stateDir, join(stateDir, 'containers'), dir];
    for (const d of lowered) chmodSync(d, 0o711);
    try {
      expect(probeAsNobody('exec', join(dir, 'upper', 'id'))).toBe('ok');
    } finally {
      for (const d of lowered) chmodSync(d, 0o700);
    }
  });

  it('runs containers although no directory above their layers lets their uid pass', async () => {
    chmodSync(dirname(stateDir), 0o700);
    try {
      await runtime.launch(busyboxPlan('walled', ['sh', '-c', 'echo hi > /f && cat /f && ls /proc/self/fd | wc -l'], slice(BASE, 1)));
      expect(await runtime.wait('walled')).toMatchObject({ exitCode: 0 });
      // only stdin, stdout, stderr and the fd ls reads: none of the launcher's directory fds leaked in
      expect(readFileSync(join(stateDir, 'containers', 'walled', 'console.log'), 'utf8')).toBe('hi\n4\n');
    } finally {
      chmodSync(dirname(stateDir), 0o711);
    }
  });
});
