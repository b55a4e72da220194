import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NativeError, type ContainerRuntime } from '@nagaya/native';

import { busyboxImage, busyboxPlan, launcherPidOf, leftoverCgroups, openTestRuntime, sleep, slice } from './helpers';

// Host ids for this file: 2_000_000_000 + n * 65536, apart from every other test file's.
const BASE = 2_000_000_000;

const repoRoot = resolve(__dirname, '../../..');

const mapFields = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));

// The launcher answers a launch once the child has exec'd, and serves other requests while
// children set themselves up: these launches overlap inside the launcher.
describe('concurrent launches', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('concurrency'));
  });
  afterAll(async () => cleanup());

  it('launches 16 containers at once, each running with its own map', async () => {
    const ids = Array.from({ length: 16 }, (_, i) => `many-${i}`);
    const launched = await Promise.all(
      ids.map((id, i) => runtime.launch(busyboxPlan(id, ['sleep', '600'], slice(BASE, i), { limits: { pids: 20 } }))),
    );
    const running = new Map((await runtime.running()).map((c) => [c.id, c]));
    launched.forEach((c, i) => {
      expect(c.id).toBe(ids[i]);
      expect(running.get(c.id)).toEqual(c);
      expect(runtime.status(c.id)).toMatchObject({ state: 'running', pid: c.pid, startTime: c.startTime });
      expect(statSync(`/proc/${c.pid}`).uid).toBe(BASE + i * 65536);
      expect(mapFields(readFileSync(`/proc/${c.pid}/uid_map`, 'utf8'))).toEqual([[0, BASE + i * 65536, 65536]]);
      expect(mapFields(readFileSync(`/proc/${c.pid}/gid_map`, 'utf8'))).toEqual([[0, BASE + i * 65536, 65536]]);
    });
    expect(new Set(launched.map((c) => c.pid)).size).toBe(16);
    const stopped = await Promise.all(ids.map((id) => runtime.stop(id, 0)));
    for (const status of stopped) expect(status).toMatchObject({ signal: 'SIGKILL', lost: false });
    for (const id of ids) expect(leftoverCgroups(launcherPidOf(stateDir), id)).toEqual([]);
  });

  it('fails only the launch whose step failed, with its step, syscall and errno', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `mixed-${i}`);
    const results = await Promise.allSettled(
      ids.map((id, i) =>
        runtime.launch(busyboxPlan(id, i === 3 ? ['/no/such/binary'] : ['sleep', '600'], slice(BASE, 20 + i), { limits: { pids: 20 } })),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(results.map((_, i) => (i === 3 ? 'rejected' : 'fulfilled')));
    const err = (results[3] as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(NativeError);
    expect(err).toMatchObject({ code: 'ENOENT', step: 'exec', syscall: 'execve', errno: 2 });
    expect(existsSync(join(stateDir, 'containers', 'mixed-3'))).toBe(false);
    expect(leftoverCgroups(launcherPidOf(stateDir), 'mixed-3')).toEqual([]);
    const running = (await runtime.running()).map((c) => c.id).sort();
    expect(running).toEqual(ids.filter((_, i) => i !== 3).sort());
    await Promise.all(ids.filter((_, i) => i !== 3).map((id) => runtime.stop(id, 0)));
  });

  it('refuses the same id launched twice at once (EEXIST), and runs it once', async () => {
    const results = await Promise.allSettled([
      runtime.launch(busyboxPlan('dup', ['sleep', '600'], slice(BASE, 30))),
      runtime.launch(busyboxPlan('dup', ['sleep', '600'], slice(BASE, 30))),
    ]);
    // on failure, say why each launch was refused (a load-dependent failure here once refused both)
    const why = results
      .map((r) => (r.status === 'rejected' ? JSON.stringify({ ...r.reason, message: String(r.reason?.message) }) : 'ran'))
      .join('; ');
    expect(results.map((r) => r.status).sort(), why).toEqual(['fulfilled', 'rejected']);
    const err = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
    expect(err).toMatchObject({ code: 'EEXIST', step: 'launch' });
    const launched = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ pid: number }>).value;
    expect(runtime.status('dup')).toMatchObject({ state: 'running', pid: launched.pid });
    expect((await runtime.running()).filter((c) => c.id === 'dup')).toHaveLength(1);
    await runtime.stop('dup', 0);
  });

  it('runs an exec sent while the launch is in progress once the container is running', async () => {
    const launching = runtime.launch(busyboxPlan('early-exec', ['sleep', '600'], slice(BASE, 31)));
    const execed = runtime.exec('early-exec', ['echo', 'inside']);
    await launching;
    expect(await execed).toMatchObject({ exitCode: 0, stdout: 'inside\n' });
    await runtime.stop('early-exec', 0);
  });

  it('applies a kill sent while the launch is in progress once the container is running', async () => {
    const launching = runtime.launch(busyboxPlan('early-kill', ['sleep', '600'], slice(BASE, 33)));
    const killed = runtime.kill('early-kill', 9);
    const c = await launching;
    await killed;
    expect(await runtime.wait('early-kill')).toMatchObject({ signal: 'SIGKILL' });
    expect(runtime.status('early-kill')).toMatchObject({ state: 'exited', pid: c.pid });
  });

  it('finishes and records launches whose client disconnected while they were in progress', async () => {
    const worker = spawn(
      process.execPath,
      ['--import', 'tsx', join(__dirname, 'fixtures/vanishing-client.ts'), stateDir, busyboxImage(), String(BASE + 50 * 65536), '4'],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    let stderr = '';
    worker.stderr.on('data', (d) => (stderr += d));
    const signal = await new Promise((r) => worker.once('exit', (_code, sig) => r(sig)));
    expect(signal, stderr).toBe('SIGKILL');
    const ids = ['vanish-0', 'vanish-1', 'vanish-2', 'vanish-3'];
    for (let i = 0; i < 100 && !ids.every((id) => runtime.status(id).state === 'running'); i++) await sleep(50);
    const records = await runtime.adopt();
    for (const [i, id] of ids.entries()) {
      const record = records.find((r) => r.id === id);
      expect(record).toMatchObject({ state: 'running', launcherPid: launcherPidOf(stateDir) });
      expect(statSync(`/proc/${record?.pid}`).uid).toBe(BASE + (50 + i) * 65536);
    }
    const stopped = await Promise.all(ids.map((id) => runtime.stop(id, 0)));
    for (const status of stopped) expect(status).toMatchObject({ signal: 'SIGKILL', lost: false });
    for (const id of ids) expect(runtime.status(id).state).toBe('exited');
  });

  it('answers a stop for an id whose launch fails as for an unknown container (ESRCH)', async () => {
    const launching = runtime.launch(busyboxPlan('doomed', ['/no/such/binary'], slice(BASE, 32))).catch((e) => e);
    const killed = runtime.kill('doomed', 9).catch((e) => e);
    expect(await launching).toMatchObject({ code: 'ENOENT', step: 'exec' });
    expect(await killed).toMatchObject({ code: 'ESRCH', step: 'kill' });
  });
});

describe('shutdown while launches are in progress', () => {
  it('abandons them: each launch fails with ESHUTDOWN and leaves no cgroups or records', async () => {
    const { runtime, stateDir, cleanup } = await openTestRuntime('concurrency-shutdown');
    const launcherPid = launcherPidOf(stateDir);
    try {
      const ids = Array.from({ length: 6 }, (_, i) => `cut-${i}`);
      const launches = ids.map((id, i) =>
        runtime.launch(busyboxPlan(id, ['sleep', '600'], slice(BASE, 40 + i), { limits: { pids: 20 } })).then(
          () => 'launched',
          (e: NativeError) => `${e.step}/${e.syscall}/${e.errno}`,
        ),
      );
      await runtime.shutdown();
      const outcomes = await Promise.all(launches);
      // The first launch may have finished before the shutdown arrived; later ones cannot run.
      // ESHUTDOWN (108) has no name in Node's os.constants.errno.
      const abandoned = 'launch/shutdown/108';
      for (const outcome of outcomes) expect(['launched', abandoned]).toContain(outcome);
      expect(outcomes).toContain(abandoned);
      for (const [i, id] of ids.entries()) {
        expect(leftoverCgroups(launcherPid, id)).toEqual([]);
        if (outcomes[i] === abandoned) expect(existsSync(join(stateDir, 'containers', id, 'state.json'))).toBe(false);
        else expect(runtime.status(id).state).toBe('exited');
      }
    } finally {
      await cleanup();
    }
  });
});
