import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ContainerRuntime, NativeError } from '@nagaya/native';

import { busyboxPlan, launcherPidOf, openTestRuntime, sleep, slice } from './helpers';

// Host ids for this file: 2_160_000_000 + n * 65536, apart from every other test file's.
const BASE = 2_160_000_000;

describe('runs: timeouts, captured output and stdin, carried out by the launcher', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('runs'));
  });
  afterAll(async () => cleanup());

  const exitRecord = (id: string) => JSON.parse(readFileSync(join(stateDir, 'containers', id, 'exit.json'), 'utf8'));

  it('kills a run whose timeout ran out: SIGKILL, timedOut, within 1.5 s of the launch', async () => {
    const started = Date.now();
    await runtime.launch(busyboxPlan('timeout', ['sleep', '60'], slice(BASE, 0), { timeoutMs: 1000 }));
    // the deadline is on record for a launcher that would have to adopt the run
    const state = JSON.parse(readFileSync(join(stateDir, 'containers', 'timeout', 'state.json'), 'utf8'));
    expect(state.timeoutAt).toBeGreaterThanOrEqual(started + 1000);
    expect(state.timeoutAt).toBeLessThan(started + 1300);
    expect(state.timeoutAtMonotonic).toBeGreaterThan(0);
    const status = await runtime.wait('timeout');
    const elapsed = Date.now() - started;
    expect(status).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: true, lost: false });
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(1500);
    expect(exitRecord('timeout')).toMatchObject({ signal: 9, timedOut: true });
    expect(runtime.status('timeout').exit?.timedOut).toBe(true);
  });

  it('works the same behind an init (tini as PID 1): captured output, stdin, exit code, and a timeout that kills them all', async () => {
    const script = 'cat; echo err >&2; exit 7';
    const plan = busyboxPlan('behind-init', ['sh', '-c', script], slice(BASE, 20), {
      init: true,
      outputLimitBytes: 64,
      stdin: Buffer.from('in\n'),
    });
    await runtime.launch(plan);
    expect(await runtime.wait('behind-init')).toMatchObject({ exitCode: 7 });
    expect(runtime.readOutput('behind-init')).toMatchObject({ stdout: Buffer.from('in\n'), stderr: Buffer.from('err\n') });
    const started = Date.now();
    await runtime.launch(
      busyboxPlan('init-timeout', ['sh', '-c', 'trap "" TERM; sleep 60 & wait'], slice(BASE, 21), { init: true, timeoutMs: 500 }),
    );
    expect(await runtime.wait('init-timeout')).toMatchObject({ signal: 'SIGKILL', timedOut: true });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('says nothing of a timeout when the run ends in time, nor for a container without one', async () => {
    await runtime.launch(busyboxPlan('in-time', ['true'], slice(BASE, 1), { timeoutMs: 5000 }));
    const status = await runtime.wait('in-time');
    expect(status.exitCode).toBe(0);
    expect(status.timedOut).toBeUndefined();
    expect(exitRecord('in-time').timedOut).toBeUndefined();
  });

  it('captures stdout and stderr apart, root-only, and not into console.log', async () => {
    const plan = busyboxPlan('apart', ['sh', '-c', 'echo out; echo err >&2; exit 3'], slice(BASE, 2), { outputLimitBytes: 1024 });
    await runtime.launch(plan);
    const status = await runtime.wait('apart');
    expect(status).toMatchObject({ exitCode: 3, signal: null });
    const output = runtime.readOutput('apart');
    expect(output).toEqual({
      stdout: Buffer.from('out\n'),
      stderr: Buffer.from('err\n'),
      stdoutTruncated: false,
      stderrTruncated: false,
      stdoutBytes: 4,
      stderrBytes: 4,
    });
    const dir = join(stateDir, 'containers', 'apart');
    for (const name of ['stdout', 'stderr']) {
      const st = statSync(join(dir, name));
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.uid).toBe(0);
    }
    expect(() => runtime.readOutput('never-was')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    const console = join(dir, 'console.log');
    expect(existsSync(console) ? readFileSync(console, 'utf8') : '').toBe('');
  });

  it('keeps the first outputLimitBytes of each stream and counts the rest, without holding the run up', async () => {
    const script = 'head -c 3000000 /dev/zero | tr "\\0" a; echo e >&2; head -c 100 /dev/zero | tr "\\0" b >&2';
    await runtime.launch(busyboxPlan('capped', ['sh', '-c', script], slice(BASE, 3), { outputLimitBytes: 100 }));
    const status = await runtime.wait('capped');
    expect(status.exitCode).toBe(0);
    const output = runtime.readOutput('capped');
    expect(output.stdout).toEqual(Buffer.alloc(100, 'a'));
    expect(output.stdoutBytes).toBe(3_000_000);
    expect(output.stdoutTruncated).toBe(true);
    expect(output.stderr.toString()).toBe(`e\n${'b'.repeat(98)}`);
    expect(output.stderrBytes).toBe(102);
    expect(output.stderrTruncated).toBe(true);
    expect(exitRecord('capped')).toMatchObject({ stdoutBytes: 3_000_000, stderrBytes: 102 });
  });

  it('captures nothing with a limit of 0, and counts it all', async () => {
    await runtime.launch(busyboxPlan('zero', ['sh', '-c', 'echo hello'], slice(BASE, 4), { outputLimitBytes: 0 }));
    await runtime.wait('zero');
    expect(runtime.readOutput('zero')).toMatchObject({ stdout: Buffer.alloc(0), stdoutBytes: 6, stdoutTruncated: true });
  });

  it('delivers stdin, binary bytes and all, then EOF', async () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const stdin = Buffer.concat([every, Buffer.from('\0\n\r\xff'), every]);
    await runtime.launch(busyboxPlan('cat-binary', ['cat'], slice(BASE, 5), { outputLimitBytes: 4096, stdin }));
    expect(await runtime.wait('cat-binary')).toMatchObject({ exitCode: 0 });
    expect(runtime.readOutput('cat-binary').stdout).toEqual(stdin);
    const kept = join(stateDir, 'containers', 'cat-binary', 'stdin');
    expect(statSync(kept).mode & 0o777).toBe(0o600);
    expect(readFileSync(kept)).toEqual(stdin);
    // plan.json keeps the plan, not its 16 MiB of stdin
    const plan = JSON.parse(readFileSync(join(stateDir, 'containers', 'cat-binary', 'plan.json'), 'utf8'));
    expect(plan.stdin).toBeUndefined();
    expect(plan.stdinBytes).toBe(stdin.length);
  });

  it('delivers a 1 MiB stdin through cat back to stdout', async () => {
    const stdin = randomBytes(1024 * 1024);
    await runtime.launch(busyboxPlan('cat-mib', ['cat'], slice(BASE, 6), { outputLimitBytes: 2 * 1024 * 1024, stdin }));
    expect(await runtime.wait('cat-mib')).toMatchObject({ exitCode: 0 });
    const output = runtime.readOutput('cat-mib');
    expect(output.stdoutBytes).toBe(stdin.length);
    expect(output.stdout.equals(stdin)).toBe(true);
  });

  it('delivers an empty stdin as EOF at once', async () => {
    await runtime.launch(
      busyboxPlan('cat-empty', ['sh', '-c', 'cat; echo done'], slice(BASE, 7), { outputLimitBytes: 64, stdin: Buffer.alloc(0) }),
    );
    expect(await runtime.wait('cat-empty')).toMatchObject({ exitCode: 0 });
    expect(runtime.readOutput('cat-empty').stdout.toString()).toBe('done\n');
  });

  it('lets a run that never reads its 10 MiB stdin exit, and stays responsive meanwhile', async () => {
    const stdin = randomBytes(10 * 1024 * 1024);
    await runtime.launch(busyboxPlan('ignores', ['sleep', '1'], slice(BASE, 8), { outputLimitBytes: 64, stdin }));
    const asked = Date.now();
    await runtime.running();
    expect(Date.now() - asked).toBeLessThan(200);
    // another run launches and ends while the first one's stdin sits unread
    await runtime.launch(busyboxPlan('beside', ['sh', '-c', 'echo ok'], slice(BASE, 9), { outputLimitBytes: 64 }));
    expect(await runtime.wait('beside')).toMatchObject({ exitCode: 0 });
    expect(runtime.readOutput('beside').stdout.toString()).toBe('ok\n');
    expect(await runtime.wait('ignores')).toMatchObject({ exitCode: 0, signal: null });
    // and a reader that stops half-way (head) leaves the launcher fine too
    await runtime.launch(busyboxPlan('head', ['head', '-c', '10'], slice(BASE, 10), { outputLimitBytes: 64, stdin }));
    expect(await runtime.wait('head')).toMatchObject({ exitCode: 0 });
    expect(runtime.readOutput('head').stdout.equals(stdin.subarray(0, 10))).toBe(true);
    expect((await runtime.running()).map((c) => c.id)).toEqual([]);
  });

  it('gives a run its stdin EOF while an exec session elsewhere is under way', async () => {
    await runtime.launch(busyboxPlan('exec-host', ['sleep', '60'], slice(BASE, 14)));
    // 1 MiB does not fit the pipe: the feed is still open when the exec's helper is forked (with
    // copies of the launcher's fds), and ends while that helper lives on
    const stdin = randomBytes(1024 * 1024);
    const started = Date.now();
    const script = 'sleep 0.4; cat >/dev/null; echo eof';
    await runtime.launch(busyboxPlan('eof-beside-exec', ['sh', '-c', script], slice(BASE, 15), { outputLimitBytes: 64, stdin }));
    const longExec = runtime.exec('exec-host', ['sleep', '3']);
    expect(await runtime.wait('eof-beside-exec')).toMatchObject({ exitCode: 0 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(runtime.readOutput('eof-beside-exec').stdout.toString()).toBe('eof\n');
    await runtime.stop('exec-host', 0);
    await longExec.catch(() => undefined);
  });

  it('leaves no fd behind in the launcher once its runs ended', async () => {
    const launcherFds = () => readdirSync(`/proc/${launcherPidOf(stateDir)}/fd`).length;
    // counted once the launcher is at rest: the exec session of the test before may still be
    // closing its fds (under load, CI counted 15 before and 11 after)
    let before = launcherFds();
    for (let i = 0; i < 50; i++) {
      await sleep(100);
      const now = launcherFds();
      if (now === before) break;
      before = now;
    }
    const stdin = randomBytes(256 * 1024);
    for (let i = 0; i < 4; i++) {
      const id = `fds-${i}`;
      // reads all of it, reads none of it, is killed by its timeout while writing, fails to launch
      const argv = [['cat'], ['true'], ['sh', '-c', 'while :; do echo y; done'], ['/no/such/program']][i]!;
      const launched = runtime.launch(busyboxPlan(id, argv, slice(BASE, 16 + i), { outputLimitBytes: 1000, stdin, timeoutMs: 300 }));
      if (i === 3) {
        await expect(launched).rejects.toThrow();
        continue;
      }
      await launched;
      await runtime.wait(id);
    }
    expect(runtime.readOutput('fds-0').stdoutBytes).toBe(stdin.length);
    expect(runtime.status('fds-2').exit?.timedOut).toBe(true);
    expect(runtime.readOutput('fds-2').stdoutTruncated).toBe(true);
    expect(launcherFds()).toBe(before);
  });

  it('refuses run options out of range before anything starts', async () => {
    const bad = [
      { timeoutMs: 0 },
      { timeoutMs: 8 * 24 * 3600 * 1000 },
      { timeoutMs: 1.5 },
      { outputLimitBytes: -1 },
      { outputLimitBytes: 64 * 1024 * 1024 + 1 },
      { stdin: Buffer.alloc(16 * 1024 * 1024 + 1) },
      { stdin: 'text' as unknown as Buffer },
    ];
    for (const extra of bad) {
      const err = await runtime.launch(busyboxPlan('refused', ['true'], slice(BASE, 11), extra)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NativeError);
      expect((err as NativeError).code).toBe('INVALID_PLAN');
    }
    expect(existsSync(join(stateDir, 'containers', 'refused'))).toBe(false);
  });

  it('enforces the timeout with no Node client connected', async () => {
    await runtime.launch(busyboxPlan('unattended', ['sleep', '60'], slice(BASE, 12), { timeoutMs: 800 }));
    runtime.close();
    await sleep(1300);
    runtime = await ContainerRuntime.open({ stateDir });
    const record = runtime.status('unattended');
    expect(record.state).toBe('exited');
    expect(record.exit).toMatchObject({ signal: 'SIGKILL', timedOut: true, lost: false });
    // finished within ~50 ms of its deadline, not when a client came back
    expect(record.exit!.finishedAt! - record.startedAt!).toBeLessThan(800 + 150);
  });

  it('re-arms the timeout in a launcher that adopts the run after a crash', async () => {
    await runtime.launch(busyboxPlan('adopted', ['sleep', '60'], slice(BASE, 13), { timeoutMs: 1500 }));
    const launchedAt = Date.now();
    const reconnected = once(runtime, 'reconnected');
    process.kill(launcherPidOf(stateDir), 'SIGKILL');
    await reconnected;
    const status = await runtime.wait('adopted');
    expect(status).toMatchObject({ signal: 'SIGKILL', timedOut: true });
    expect(Date.now() - launchedAt).toBeLessThan(2500);
  });

  it("removes a run's writable layer apart: its exit and output stay readable until the rest goes", async () => {
    const plan = busyboxPlan('layer-first', ['sh', '-c', 'echo kept; echo x > /made-here; exit 4'], slice(BASE, 22), {
      outputLimitBytes: 64,
    });
    await runtime.launch(plan);
    expect(await runtime.wait('layer-first')).toMatchObject({ exitCode: 4 });
    const dir = join(stateDir, 'containers', 'layer-first');
    expect(existsSync(join(dir, 'upper', 'made-here'))).toBe(true);
    await runtime.removeWritableLayer('layer-first');
    expect(existsSync(join(dir, 'upper'))).toBe(false);
    expect(existsSync(join(dir, 'work'))).toBe(false);
    expect(runtime.status('layer-first').exit).toMatchObject({ exitCode: 4 });
    expect(runtime.readOutput('layer-first').stdout).toEqual(Buffer.from('kept\n'));
    await runtime.removeWritableLayer('layer-first'); // again: a worker that takes the attempt up repeats it
    await runtime.remove('layer-first');
    expect(existsSync(dir)).toBe(false);
  });

  it('removes a hostile writable layer without following what it points at: symlinks out of it, hard links, setuid files', async () => {
    // host paths: meaningless inside the container, where the links are made, but not to an rm on the host that followed them
    const outside = mkdtempSync(join(tmpdir(), 'nagaya-layer-target-'));
    writeFileSync(join(outside, 'precious'), 'keep\n');
    const script = [
      `ln -s ${outside} /escape-dir`,
      `mkdir -p /d && ln -s ${join(outside, 'precious')} /d/escape-file`,
      'echo x > /a && ln /a /hard',
      'touch /suid && chmod 4755 /suid',
    ].join(' && ');
    await runtime.launch(busyboxPlan('layer-hostile', ['sh', '-c', script], slice(BASE, 24)));
    expect(await runtime.wait('layer-hostile')).toMatchObject({ exitCode: 0 });
    const upper = join(stateDir, 'containers', 'layer-hostile', 'upper');
    expect(lstatSync(join(upper, 'escape-dir')).isSymbolicLink()).toBe(true);
    expect(statSync(join(upper, 'suid')).mode & 0o4000).toBe(0o4000);
    await runtime.removeWritableLayer('layer-hostile');
    expect(existsSync(upper)).toBe(false);
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep\n');
    expect(readdirSync(outside)).toEqual(['precious']);
    await runtime.remove('layer-hostile');
    rmSync(outside, { recursive: true, force: true });
  });

  it('refuses to remove the writable layer of a running container', async () => {
    await runtime.launch(busyboxPlan('layer-running', ['sleep', '60'], slice(BASE, 23)));
    await expect(runtime.removeWritableLayer('layer-running')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(existsSync(join(stateDir, 'containers', 'layer-running', 'upper'))).toBe(true);
    await runtime.stop('layer-running', 0);
    await runtime.wait('layer-running');
  });
});
