import { statSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ContainerRuntime, ExecSession, ExecSessionEnd } from '@nagaya/native';

import { busyboxPlan, openTestRuntime, sleep, slice } from './helpers';

// Host ids for this file: 2_130_000_000 + n * 65536, apart from every other test file's.
const BASE = 2_130_000_000;

/** An interactive session whose output is collected, with a way to wait for some of it. */
async function open(runtime: ContainerRuntime, id: string, argv: string[], options: Parameters<ContainerRuntime['startExecSession']>[2]) {
  const out = { stdout: '', stderr: '' };
  let resolveEnd: (end: ExecSessionEnd) => void = () => {};
  const ended = new Promise<ExecSessionEnd>((r) => (resolveEnd = r));
  const session: ExecSession = await runtime.startExecSession(id, argv, options, {
    onOutput: (stream, data) => (out[stream] += data.toString('utf8')),
    onEnd: (end) => resolveEnd(end),
  });
  const waitFor = async (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout') => {
    for (let i = 0; i < 200; i++) {
      const match = out[stream].match(pattern);
      if (match) return match;
      await sleep(25);
    }
    throw new Error(`no ${pattern} in ${JSON.stringify(out[stream])}`);
  };
  return { session, out, ended, waitFor };
}

describe('interactive exec sessions', () => {
  let runtime: ContainerRuntime;
  let cleanup: () => Promise<void>;
  let initPid: number;

  beforeAll(async () => {
    ({ runtime, cleanup } = await openTestRuntime('exec-session'));
    initPid = (await runtime.launch(busyboxPlan('tty-box', ['sleep', '600'], slice(BASE, 0)))).pid;
  });
  afterAll(async () => cleanup());

  it("gets a pty of the container's devpts, owned by its root, at the size asked, and resized", async () => {
    const s = await open(runtime, 'tty-box', ['sh'], { tty: true, rows: 33, cols: 101 });
    await s.session.write(Buffer.from('tty; stat -c owner=%u:%g $(tty); stty size\n'));
    const tty = (await s.waitFor(/(\/dev\/pts\/\d+)\r?\n/))[1];
    expect(tty).toMatch(/^\/dev\/pts\/\d+$/);
    await s.waitFor(/owner=0:0\r?\n/);
    // seen from the host: the container's devpts, the pty owned by the slice's first id (its root)
    const onHost = statSync(`/proc/${initPid}/root${tty}`);
    expect(onHost.uid).toBe(BASE);
    expect(onHost.isCharacterDevice()).toBe(true);
    await s.waitFor(/33 101\r?\n/);
    await s.session.resize(40, 132);
    await s.session.write(Buffer.from('stty size\n'));
    await s.waitFor(/40 132\r?\n/);
    await s.session.write(Buffer.from('exit 7\n'));
    const end = await s.ended;
    expect(end.exitCode).toBe(7);
  });

  it('gives a non-root exec its pty, chowned to that user', async () => {
    const s = await open(runtime, 'tty-box', ['sh', '-c', 'id -u; stat -c owner=%u:%g $(tty)'], {
      tty: true,
      user: { uid: 1000, gid: 1000 },
    });
    const end = await s.ended;
    expect(end.exitCode).toBe(0);
    expect(s.out.stdout).toMatch(/^1000\r\nowner=1000:1000\r\n$/);
  });

  it('keeps stdout and stderr apart without a tty, echoes stdin, and ends at its EOF', async () => {
    const s = await open(runtime, 'tty-box', ['sh', '-c', 'echo to-stderr >&2; cat; echo done'], {});
    await s.waitFor(/to-stderr\n/, 'stderr');
    await s.session.write(Buffer.from('hello through stdin\n'));
    await s.waitFor(/hello through stdin\n/);
    await s.session.closeStdin();
    const end = await s.ended;
    expect(end.exitCode).toBe(0);
    expect(s.out.stdout).toBe('hello through stdin\ndone\n');
    expect(s.out.stderr).toBe('to-stderr\n');
  });

  it('kill() ends the command, which is gone from the container', async () => {
    const s = await open(runtime, 'tty-box', ['sh', '-c', 'echo pid=$$; exec sleep 1000'], { tty: true });
    const pid = (await s.waitFor(/pid=(\d+)/))[1];
    await s.session.kill();
    const end = await s.ended;
    expect(end.signal).toBe('SIGKILL');
    const check = await runtime.exec('tty-box', ['sh', '-c', `kill -0 ${pid} 2>/dev/null && echo alive || echo gone`]);
    expect(check.stdout).toBe('gone\n');
  });

  it('reports a command that cannot run as its end', async () => {
    const s = await open(runtime, 'tty-box', ['/no/such/command'], { tty: true });
    const end = await s.ended;
    expect(end.error?.message).toMatch(/exec|ENOENT/);
  });
});
