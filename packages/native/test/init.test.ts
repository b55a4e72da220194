import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_INIT_BINARY, NativeError, resolveLaunchPlan, type ContainerRuntime, type StopSignal } from '@nagaya/native';

import { busyboxImage, busyboxPlan, openTestRuntime, sleep, slice } from './helpers';

// Host ids for this file: 1_235_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_235_000_000;

/** Host pids of the processes in the pid namespace whose init is `initPid`, with their state letter. */
function processesInPidNamespaceOf(initPid: number): Array<{ pid: number; state: string; comm: string }> {
  const ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  const found: Array<{ pid: number; state: string; comm: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) !== ns) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      found.push({ pid: Number(entry), comm: stat.slice(stat.indexOf('(') + 1, close), state: stat.slice(close + 2, close + 3) });
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

const zombiesOf = (initPid: number) => processesInPidNamespaceOf(initPid).filter((p) => p.state === 'Z');

describe('an init as PID 1 (tini) and stop signals', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;
  let index = 0;
  const nextSlice = () => slice(BASE, index++);
  const logOf = (id: string) => readFileSync(join(stateDir, 'containers', id, 'console.log'), 'utf8');

  beforeAll(async () => {
    expect(existsSync(DEFAULT_INIT_BINARY), `${DEFAULT_INIT_BINARY} (apt-get install tini)`).toBe(true);
    ({ runtime, stateDir, cleanup } = await openTestRuntime('init'));
  });
  afterAll(async () => cleanup());

  it('runs tini as PID 1 with the command as its child, from a read-only, host-owned file', async () => {
    const script = [
      'echo ppid=$PPID',
      'cat /proc/1/cmdline | tr "\\0" " "; echo',
      'ls -ln /sbin/nagaya-init',
      'grep " /sbin/nagaya-init " /proc/self/mountinfo',
    ].join('; ');
    const c = await runtime.launch(busyboxPlan('shows-init', ['sh', '-c', script], nextSlice(), { init: true }));
    expect(await runtime.wait('shows-init')).toMatchObject({ exitCode: 0, signal: null });
    const [ppid, cmdline, ls, mountinfo] = logOf('shows-init').trim().split('\n');
    expect(ppid).toBe('ppid=1');
    expect(cmdline.trim()).toBe(`/sbin/nagaya-init -- sh -c ${script}`);
    // owned by host root, which the container's user namespace does not map: the overflow id
    expect(ls).toMatch(/^-rwxr-xr-x\s+1 65534\s+65534 /);
    const options = mountinfo.split(' ')[5].split(',');
    expect(options).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev']));
    expect(c.pid).toBeGreaterThan(0);
  });

  it("refuses every write to the host's tini by the container's root", async () => {
    const before = createHash('sha256').update(readFileSync(DEFAULT_INIT_BINARY)).digest('hex');
    const attempts = [
      'echo x > /sbin/nagaya-init',
      'echo x >> /sbin/nagaya-init',
      'echo x >> /proc/1/exe',
      'chmod 777 /sbin/nagaya-init',
      'chown 0:0 /sbin/nagaya-init',
      'rm -f /sbin/nagaya-init',
      'mv /sbin/nagaya-init /sbin/x',
      'mount -o remount,rw,bind /sbin/nagaya-init',
      'umount /sbin/nagaya-init',
    ];
    const script = ['id -u', ...attempts.map((a) => `(${a}) 2>/dev/null && echo "WROTE: ${a}" || echo refused`)].join('; ');
    await runtime.launch(busyboxPlan('writes-init', ['sh', '-c', script], nextSlice(), { init: true }));
    expect(await runtime.wait('writes-init')).toMatchObject({ exitCode: 0 });
    const lines = logOf('writes-init').trim().split('\n');
    expect(lines[0]).toBe('0'); // the container's root
    expect(lines.slice(1)).toEqual(attempts.map(() => 'refused'));
    expect(createHash('sha256').update(readFileSync(DEFAULT_INIT_BINARY)).digest('hex')).toBe(before);
  });

  it("mounts the init beneath the image's root even when the image's /sbin is an absolute symlink", async () => {
    // A host directory that the image's /sbin names: followed on the host, the launcher would
    // create and mount nagaya-init in it.
    const root = mkdtempSync(join(tmpdir(), 'nagaya-init-symlink-'));
    const hostDir = join(root, 'host-target');
    const layer = join(root, 'layer');
    mkdirSync(hostDir);
    mkdirSync(join(layer, hostDir.slice(1)), { recursive: true }); // the same path inside the image
    symlinkSync(hostDir, join(layer, 'sbin'));
    try {
      const plan = busyboxPlan('sbin-link', ['sh', '-c', `ls ${hostDir}; readlink /sbin`], nextSlice(), {
        init: true,
        image: undefined,
        layers: [layer, busyboxImage()],
      });
      await runtime.launch(plan);
      expect(await runtime.wait('sbin-link')).toMatchObject({ exitCode: 0 });
      expect(logOf('sbin-link').trim().split('\n')).toEqual(['nagaya-init', hostDir]);
      expect(readdirSync(hostDir)).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('ends an init container on a SIGTERM sent in the same instant as its launch (the launcher sends it again once tini is up)', async () => {
    for (let i = 0; i < 5; i++) {
      const id = `term-young-${i}`;
      await runtime.launch(busyboxPlan(id, ['sleep', '600'], nextSlice(), { init: true }));
      const started = Date.now();
      expect(await runtime.stop(id, 10_000)).toMatchObject({ exitCode: 143, signal: null });
      expect(Date.now() - started).toBeLessThan(1_500);
    }
  });

  it('stops `sleep 600` on SIGTERM at once with an init; without one, sleep as PID 1 waits for the SIGKILL', async () => {
    const { pid: tini } = await runtime.launch(busyboxPlan('term-init', ['sleep', '600'], nextSlice(), { init: true }));
    // A pid namespace's init drops a signal it has no handler for yet: stop once tini has set up
    // and started its child (a stop in the first instant of a run may otherwise wait for the kill).
    for (let i = 0; i < 250 && processesInPidNamespaceOf(tini).length < 2; i++) await sleep(20);
    let started = Date.now();
    const withInit = await runtime.stop('term-init', 10_000);
    const withInitMs = Date.now() - started;
    expect(withInit).toMatchObject({ exitCode: 143, signal: null }); // tini: 128 + SIGTERM of its child
    expect(withInitMs).toBeLessThan(1000);

    await runtime.launch(busyboxPlan('term-bare', ['sleep', '600'], nextSlice()));
    started = Date.now();
    const bare = await runtime.stop('term-bare', 1500);
    const bareMs = Date.now() - started;
    expect(bare).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(bareMs).toBeGreaterThanOrEqual(1400);
  });

  it('reaps orphans that exit; without an init they stay zombies of PID 1', async () => {
    // The subshell leaves `sleep 0.5` behind, reparented to PID 1; sh then becomes `sleep 600`
    // (long before the orphan exits), which never waits for a child.
    const argv = ['sh', '-c', '(sleep 0.5 &); exec sleep 600'];
    const withInit = await runtime.launch(busyboxPlan('reap-init', argv, nextSlice(), { init: true }));
    const bare = await runtime.launch(busyboxPlan('reap-bare', argv, nextSlice()));
    await sleep(1500);
    expect(
      processesInPidNamespaceOf(withInit.pid)
        .map((p) => p.comm)
        .sort(),
    ).toEqual(['nagaya-init', 'sleep']);
    expect(zombiesOf(withInit.pid)).toEqual([]);
    expect(zombiesOf(bare.pid)).toHaveLength(1);
    await Promise.all([runtime.stop('reap-init', 0), runtime.stop('reap-bare', 0)]);
  });

  it("runs as the plan's user, init and command alike", async () => {
    const script = 'echo $(id -u):$(id -g); stat -c %u /proc/1; sleep 600 & wait';
    const c = await runtime.launch(
      busyboxPlan('as-user', ['sh', '-c', script], nextSlice(), { init: true, user: { uid: 1000, gid: 1000 } }),
    );
    for (let i = 0; i < 250 && logOf('as-user').split('\n').length < 3; i++) await sleep(20);
    expect(logOf('as-user').trim().split('\n')).toEqual(['1000:1000', '1000']);
    expect(
      processesInPidNamespaceOf(c.pid)
        .map((p) => p.comm)
        .sort(),
    ).toEqual(['nagaya-init', 'sh', 'sleep']);
    const started = Date.now();
    expect(await runtime.stop('as-user', 10_000)).toMatchObject({ exitCode: 143 });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("exits with its child's exit code", async () => {
    await runtime.launch(busyboxPlan('exit-7', ['sh', '-c', 'exit 7'], nextSlice(), { init: true }));
    expect(await runtime.wait('exit-7')).toMatchObject({ exitCode: 7, signal: null, oomKilled: false });
  });

  it('fails the launch when the command is missing, as without an init', async () => {
    const err = await runtime.launch(busyboxPlan('missing-cmd', ['no-such-command'], nextSlice(), { init: true })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NativeError);
    expect(err).toMatchObject({ code: 'ENOENT', step: 'exec' });
    expect((err as Error).message).toContain('"no-such-command": not found in the image');
  });

  // sh runs its trap at once while it waits (`wait`), and its own exit code says the trap ran.
  const trapScript = 'trap "echo got-INT; exit 3" INT; echo ready; sleep 600 & wait';

  async function launchTrap(id: string) {
    await runtime.launch(busyboxPlan(id, ['sh', '-c', trapScript], nextSlice(), { init: true }));
    for (let i = 0; i < 100 && !logOf(id).includes('ready'); i++) await sleep(20);
    await sleep(50); // from `echo ready` to `wait`
  }

  it('sends the stop signal it is given: SIGINT runs the trap, SIGTERM does not', async () => {
    await launchTrap('trap-int');
    expect(await runtime.stop('trap-int', 10_000, 'SIGINT')).toMatchObject({ exitCode: 3, signal: null });
    expect(logOf('trap-int')).toContain('got-INT');

    await launchTrap('trap-term');
    expect(await runtime.stop('trap-term', 10_000)).toMatchObject({ exitCode: 143 });
    expect(logOf('trap-term')).not.toContain('got-INT');

    await launchTrap('trap-number');
    expect(await runtime.stop('trap-number', 10_000, 2)).toMatchObject({ exitCode: 3 });
  });

  it('kills at once with SIGKILL, or with a timeout of 0 whatever the signal', async () => {
    await launchTrap('trap-kill');
    let started = Date.now();
    expect(await runtime.stop('trap-kill', 10_000, 'SIGKILL')).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(Date.now() - started).toBeLessThan(1000);

    await launchTrap('trap-zero');
    started = Date.now();
    expect(await runtime.stop('trap-zero', 0, 'SIGINT')).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(logOf('trap-zero')).not.toContain('got-INT');
  });

  it('refuses an unknown stop signal', async () => {
    await runtime.launch(busyboxPlan('bad-signal', ['sleep', '600'], nextSlice(), { init: true }));
    for (const signal of ['SIGSEGV', 'TERM', 'sigterm', 0, 65, 1.5]) {
      await expect(runtime.stop('bad-signal', 1000, signal as unknown as StopSignal)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(await runtime.stop('bad-signal', 0)).toMatchObject({ signal: 'SIGKILL' });
  });
});

describe('a host without the init binary', () => {
  it('refuses a plan with init, and launches one without', async () => {
    const missing = join(tmpdir(), 'nagaya-no-such-tini');
    const { runtime, cleanup } = await openTestRuntime('no-init', { initBinary: missing });
    try {
      const err = await runtime.launch(busyboxPlan('wants-init', ['true'], slice(BASE, 40), { init: true })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NativeError);
      expect(err).toMatchObject({ code: 'INVALID_PLAN' });
      expect((err as Error).message).toContain(`init needs ${missing} on this host`);
      await runtime.launch(busyboxPlan('no-init', ['true'], slice(BASE, 41)));
      expect(await runtime.wait('no-init')).toMatchObject({ exitCode: 0 });
    } finally {
      await cleanup();
    }
  });

  it('refuses an init binary the container could not run, or a path it could not walk', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nagaya-init-modes-')); // 0700: not searchable by others
    const hidden = join(root, 'tini');
    copyFileSync(DEFAULT_INIT_BINARY, hidden);
    chmodSync(hidden, 0o755);
    const ownerOnly = join(tmpdir(), `nagaya-init-owner-only-${process.pid}`);
    copyFileSync(DEFAULT_INIT_BINARY, ownerOnly);
    chmodSync(ownerOnly, 0o700);
    try {
      const plan = busyboxPlan('modes', ['true'], slice(BASE, 42), { init: true });
      expect(() => resolveLaunchPlan(plan, '/var/lib/nagaya-test', { initBinary: hidden })).toThrow(/must be searchable by every user/);
      expect(() => resolveLaunchPlan(plan, '/var/lib/nagaya-test', { initBinary: ownerOnly })).toThrow(/every user may execute/);
      expect(() => resolveLaunchPlan(plan, '/var/lib/nagaya-test', { initBinary: 'tini' })).toThrow(/absolute path/);
      expect(() => resolveLaunchPlan({ ...plan, init: 'yes' as unknown as boolean }, '/var/lib/nagaya-test')).toThrow(
        /init must be a boolean/,
      );
      expect(resolveLaunchPlan(plan, '/var/lib/nagaya-test').initBinary).toBe(DEFAULT_INIT_BINARY);
      expect(resolveLaunchPlan({ ...plan, init: false }, '/var/lib/nagaya-test').initBinary).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(ownerOnly, { force: true });
    }
  });
});
