import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ContainerRuntime, LaunchPlan } from '@nagaya/native';

import { launcherPidOf, openTestRuntime, slice } from './helpers';
import { buildProbeImage, capabilityNumbers, parseProbe, PROBE, type ProbeReport } from './support/confinement-probe';

// Host ids for this file: 1_700_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_700_000_000;
const EPERM = 1;
const ENOSYS = 38;
const ENOEXEC = 8;
const EOPNOTSUPP = 95;

/** Docker's default capabilities: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. */
const DOCKER_DEFAULT_CAPS = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];
const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;

/** Every attack the probe makes, and what a confined container gets for it. */
const CONFINED: Record<string, number> = {
  'unshare-user': EPERM,
  'unshare-mount': EPERM,
  'unshare-net': EPERM,
  'clone-newuser': EPERM,
  'clone-newnet': EPERM,
  clone3: ENOSYS, // so libc falls back to clone(), whose flags the filter can read
  mount: EPERM,
  'umount-proc-sys': EPERM,
  'mount-over-proc-sys': EPERM,
  'remount-proc-sys-rw': EPERM,
  'open-tree': EPERM,
  fsopen: EPERM,
  keyctl: EPERM,
  'add-key': EPERM,
  'io-uring-setup': EPERM,
  userfaultfd: EPERM,
  'perf-event-open': EPERM,
  bpf: EPERM,
  'open-by-handle-at': EPERM,
  'name-to-handle-at': EOPNOTSUPP,
  'personality-addr-no-randomize': EPERM,
  'personality-linux32': 0, // allowed, as by Docker
  chroot: 0, // CAP_SYS_CHROOT is one of Docker's 14
  'vsock-socket': EPERM,
  setns: EPERM,
  sethostname: EPERM,
  'nf-tables': EPERM,
  ...(process.arch === 'x64' ? { 'x32-getpid': EPERM } : {}),
  'nested-unshare-mount': EPERM,
  'nested-unshare-net': EPERM,
  'nested-mount': EPERM,
  'nested-umount-proc-sys': EPERM,
};

/** With security.nesting: a new user namespace, and nothing else. */
const NESTING: Record<string, number> = { ...CONFINED, 'unshare-user': 0, 'clone-newuser': 0 };

function expectConfined(report: ProbeReport, expected: Record<string, number>): void {
  const { 'i386-getpid': i386, ...rest } = report.errno;
  expect(rest).toEqual(expected);
  // refused by the filter, or not reachable at all where the kernel has no IA32 emulation
  if (process.arch === 'x64') expect([EPERM, ENOEXEC]).toContain(i386);
  expect(report.status.Seccomp).toBe('2');
  expect(report.status.NoNewPrivs).toBe('1');
  for (const set of ['CapBnd', 'CapPrm', 'CapEff', 'CapInh']) {
    const caps = capabilityNumbers(report.status[set]!);
    expect(caps, set).toEqual(DOCKER_DEFAULT_CAPS);
    expect(caps, set).not.toContain(CAP_SYS_ADMIN);
    expect(caps, set).not.toContain(CAP_NET_ADMIN);
  }
  expect(capabilityNumbers(report.status.CapAmb!)).toEqual([]);
}

describe('confinement of container processes', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;
  let image: string;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('confinement'));
    image = buildProbeImage(join(dirname(stateDir), 'probe-image'));
  });
  afterAll(async () => cleanup());

  const plan = (id: string, argv: string[], n: number, extra: Partial<LaunchPlan> = {}): LaunchPlan => ({
    id,
    image,
    argv,
    uidMap: slice(BASE, n),
    gidMap: slice(BASE, n),
    ...extra,
  });

  async function probeAsInit(id: string, n: number, extra: Partial<LaunchPlan> = {}): Promise<ProbeReport> {
    await runtime.launch(plan(id, [PROBE], n, extra));
    expect(await runtime.wait(id)).toMatchObject({ exitCode: 0 });
    return parseProbe(readFileSync(join(stateDir, 'containers', id, 'console.log'), 'utf8'));
  }

  async function probeByExec(id: string): Promise<ProbeReport> {
    const result = await runtime.exec(id, [PROBE], { timeoutMs: 30_000 });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    return parseProbe(result.stdout);
  }

  it("refuses the first process every attack, with Docker's capabilities and seccomp on", async () => {
    expectConfined(await probeAsInit('probe-init', 0), CONFINED);
  });

  it('confines an exec session the same way', async () => {
    await runtime.launch(plan('probe-exec', ['sleep', '600'], 1));
    expectConfined(await probeByExec('probe-exec'), CONFINED);
    await runtime.stop('probe-exec', 0);
  });

  it('with security.nesting, lets the first process and exec sessions make user namespaces, and nothing more', async () => {
    expectConfined(await probeAsInit('probe-nesting', 2, { security: { nesting: true } }), NESTING);
    await runtime.launch(plan('nesting', ['sleep', '600'], 3, { security: { nesting: true } }));
    expectConfined(await probeByExec('nesting'), NESTING);
    const unshare = await runtime.exec('nesting', ['unshare', '-U', 'cat', '/proc/self/uid_map']);
    expect(unshare.exitCode).toBe(0);
    expect(unshare.stdout).toBe(''); // a new user namespace, not mapped yet
    // root of its own nested namespace, as a rootless runtime inside the container makes it
    const mapped = await runtime.exec('nesting', ['unshare', '-r', 'sh', '-c', 'id -u; cat /proc/self/uid_map']);
    expect(mapped.exitCode).toBe(0);
    expect(mapped.stdout.replace(/\s+/g, ' ').trim()).toBe('0 0 0 1');
  });

  it('refuses unshare -U without nesting', async () => {
    await runtime.launch(plan('plain', ['sleep', '600'], 4));
    const unshare = await runtime.exec('plain', ['unshare', '-U', 'true']);
    expect(unshare.exitCode).not.toBe(0);
    expect(unshare.stderr).toMatch(/Operation not permitted/);
  });

  it("keeps each container's filter for exec sessions across a launcher restart", async () => {
    const first = launcherPidOf(stateDir);
    const reconnected = once(runtime, 'reconnected');
    process.kill(first, 'SIGKILL');
    await reconnected;
    expect(launcherPidOf(stateDir)).not.toBe(first);
    expect((await runtime.exec('nesting', ['unshare', '-U', 'true'])).exitCode).toBe(0);
    expect((await runtime.exec('plain', ['unshare', '-U', 'true'])).exitCode).not.toBe(0);
    expectConfined(await probeByExec('plain'), CONFINED);
    await runtime.stop('nesting', 0);
    await runtime.stop('plain', 0);
  });

  it('runs an exec promptly when the container made its /dev/null a FIFO', async () => {
    const fifo = await runtime.launch(plan('fifo-null', ['sleep', '600'], 5));
    // The confined container cannot unmount /dev/null any more (EPERM), so the host does it in
    // the container's user and mount namespaces, as a container launched before confinement could.
    execFileSync('nsenter', [
      '--target',
      String(fifo.pid),
      '--user',
      '--mount',
      '--',
      '/bin/sh',
      '-c',
      'umount /dev/null && rm /dev/null && mkfifo /dev/null',
    ]);
    const started = Date.now();
    const result = await runtime.exec('fifo-null', ['sh', '-c', 'test -p /dev/null && echo fifo; echo done'], { timeoutMs: 10_000 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdout: 'fifo\ndone\n' });
    await runtime.stop('fifo-null', 0);
  });
});
