import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ContainerRuntime, isSameProcess, NativeError } from '@nagaya/native';

import { busyboxImage, busyboxPlan, openTestRuntime, slice } from './helpers';

// Host ids for this file: 1_400_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_400_000_000;
const repoRoot = resolve(__dirname, '../../..');

describe('container lifecycle', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('lifecycle'));
  });
  afterAll(async () => cleanup());

  it('exec runs inside the container namespaces and returns exit code, stdout and stderr', async () => {
    const c = await runtime.launch(busyboxPlan('exec', ['sleep', '60'], slice(BASE, 0), { hostname: 'exec-box' }));
    const r = await runtime.exec(
      'exec',
      ['sh', '-c', 'echo $$ $(hostname) $(id -u); ps -o pid,comm | grep -c sleep; ls /sys/class/net; echo oops >&2; exit 5'],
      {
        env: { FOO: 'bar' },
      },
    );
    expect(r.exitCode).toBe(5);
    expect(r.signal).toBeNull();
    const [first, sleeps, nets] = r.stdout.trim().split('\n');
    const [pidInside, host, uid] = first.split(' ');
    expect(Number(pidInside)).toBeGreaterThan(1); // a pid of the container's namespace
    expect(host).toBe('exec-box');
    expect(uid).toBe('0');
    expect(sleeps).toBe('1'); // sees the container's init, not the host's processes
    expect(nets).toBe('lo');
    expect(r.stderr).toBe('oops\n');

    const env = await runtime.exec('exec', ['sh', '-c', 'echo $FOO; pwd'], { env: ['FOO=bar'], cwd: '/etc' });
    expect(env.stdout).toBe('bar\n/etc\n');

    // The exec'd process runs as the container's host root, like its init.
    const owner = await runtime.exec('exec', ['sh', '-c', 'touch /from-exec']);
    expect(owner.exitCode).toBe(0);
    expect(readFileSync(`/proc/${c.pid}/uid_map`, 'utf8')).toContain(String(BASE));
  });

  it('exec kills the command after its timeout', async () => {
    const started = Date.now();
    const r = await runtime.exec('exec', ['sleep', '30'], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('exec of a missing command reports the failed step', async () => {
    const err = await runtime.exec('exec', ['/nope']).catch((e) => e);
    expect(err).toBeInstanceOf(NativeError);
    expect(err).toMatchObject({ code: 'ENOENT', step: 'exec', syscall: 'execve' });
    const missing = await runtime.exec('not-there', ['true']).catch((e) => e);
    expect(missing).toMatchObject({ code: 'ESRCH' });
  });

  it('stop sends SIGTERM and the container exits when it handles it', async () => {
    await runtime.launch(busyboxPlan('graceful', ['sh', '-c', 'trap "exit 3" TERM; while true; do sleep 0.1; done'], slice(BASE, 1)));
    await new Promise((r) => setTimeout(r, 200)); // let the shell install its trap
    const started = Date.now();
    const status = await runtime.stop('graceful', 10_000);
    expect(status).toMatchObject({ exitCode: 3, signal: null });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('stop escalates to SIGKILL after the timeout when init ignores SIGTERM', async () => {
    // pid 1 ignores signals it has no handler for: busybox sleep as init ignores SIGTERM.
    await runtime.launch(busyboxPlan('stubborn', ['sleep', '600'], slice(BASE, 2)));
    const started = Date.now();
    const status = await runtime.stop('stubborn', 400);
    const elapsed = Date.now() - started;
    expect(status).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(elapsed).toBeLessThan(5000);
    expect(runtime.status('stubborn').exit?.signal).toBe('SIGKILL');
  });

  it('emits exit events and removes the container on request', async () => {
    const seen = new Promise<[string, unknown]>((r) => runtime.once('exit', (id, status) => r([id, status])));
    await runtime.launch(busyboxPlan('events', ['sh', '-c', 'exit 9'], slice(BASE, 3)));
    const [id, status] = await seen;
    expect(id).toBe('events');
    expect(status).toMatchObject({ exitCode: 9 });
    await runtime.remove('events');
    expect(runtime.list().map((r) => r.id)).not.toContain('events');
  });

  it('containers outlive a SIGKILLed Node process and are adopted by another', async () => {
    const worker = spawn(
      process.execPath,
      ['--import', 'tsx', join(__dirname, 'fixtures/adoption-worker.ts'), stateDir, busyboxImage(), String(BASE + 10 * 65536)],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    let stderr = '';
    worker.stderr.on('data', (d) => (stderr += d));
    const line = await new Promise<string>((resolvePromise, reject) => {
      let out = '';
      worker.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolvePromise(out.split('\n')[0]);
      });
      worker.on('exit', (code) => reject(new Error(`worker exited ${code}: ${stderr}`)));
    });
    const { long, short } = JSON.parse(line);
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));

    expect(isSameProcess(long.pid, long.startTime)).toBe(true);

    const adopter = await ContainerRuntime.open({ stateDir });
    try {
      const records = await adopter.adopt();
      const longRecord = records.find((r) => r.id === 'adopt-long');
      expect(longRecord).toMatchObject({ state: 'running', pid: long.pid, startTime: long.startTime });
      expect(records.find((r) => r.id === 'adopt-short')?.pid).toBe(short.pid);

      // The short one exits on its own while nobody from the first process listens.
      const shortExit = await adopter.wait('adopt-short');
      expect(shortExit).toMatchObject({ exitCode: 7, signal: null });

      const longExit = await adopter.stop('adopt-long', 200);
      expect(longExit.signal).toBe('SIGKILL');
      expect(isSameProcess(long.pid, long.startTime)).toBe(false);
      expect(adopter.status('adopt-long').state).toBe('exited');
    } finally {
      adopter.close();
    }
  });

  it('never mistakes a reused pid for a container: the start time must match', () => {
    expect(isSameProcess(process.pid, '1')).toBe(false);
  });
});
