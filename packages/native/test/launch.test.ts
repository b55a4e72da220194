import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NativeError, type ContainerRuntime } from '@nagaya/native';

import { busyboxImage, busyboxPlan, launcherPidOf, leftoverCgroups, openTestRuntime, slice } from './helpers';

// Host ids for this file: 1_300_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_300_000_000;

describe('launching a container', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('launch'));
  });
  afterAll(async () => cleanup());

  async function runToExit(id: string, script: string, index: number) {
    await runtime.launch(busyboxPlan(id, ['sh', '-c', script], slice(BASE, index), { hostname: `host-${id}` }));
    const status = await runtime.wait(id);
    const log = readFileSync(join(stateDir, 'containers', id, 'console.log'), 'utf8');
    return { status, log };
  }

  it('runs init as pid 1 and root, with the plan hostname and only a loopback interface', async () => {
    const { status, log } = await runToExit(
      'inside',
      'echo pid=$$; echo host=$(hostname); echo uid=$(id -u) gid=$(id -g); ls /sys/class/net; ip -o link | grep -c UP',
      0,
    );
    expect(status).toMatchObject({ exitCode: 0, signal: null, oomKilled: false });
    expect(log).toContain('pid=1\n');
    expect(log).toContain('host=host-inside\n');
    expect(log).toContain('uid=0 gid=0\n');
    const ifaces = log.split('\n').filter((l) => /^[a-z0-9]+$/.test(l) && !l.startsWith('pid'));
    expect(ifaces).toEqual(['lo', '1']);
  });

  it('mounts /proc for its own pid namespace, /sys read-only, /dev with the usual nodes, and masks /proc paths', async () => {
    const script = [
      'ls /proc | grep -E "^[0-9]+$" | wc -l',
      'touch /sys/x 2>/dev/null && echo sys-writable || echo sys-ro',
      'ls /dev | tr "\\n" " "; echo',
      'echo hi > /dev/null && echo null-ok',
      'head -c 4 /dev/urandom | wc -c',
      'cat /proc/keys | wc -c',
      'mount | grep -c " /dev/pts "',
    ].join('; ');
    const { status, log } = await runToExit('kernelfs', script, 1);
    expect(status.exitCode).toBe(0);
    const lines = log.trim().split('\n');
    expect(Number(lines[0])).toBeLessThanOrEqual(5); // sh, ls, grep, wc: nothing of the host
    expect(lines[1]).toBe('sys-ro');
    for (const dev of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'ptmx']) expect(lines[2]).toContain(dev);
    expect(lines[3]).toBe('null-ok');
    expect(lines[4].trim()).toBe('4');
    expect(lines[5].trim()).toBe('0');
    expect(lines[6].trim()).toBe('1');
  });

  it('shows the plan maps in /proc/<pid>/uid_map and gid_map from the host', async () => {
    const uidMap = [
      { nsId: 0, hostId: BASE + 2 * 65536, count: 1000 },
      { nsId: 1000, hostId: BASE + 2 * 65536 + 1000, count: 64536 },
    ];
    const gidMap = slice(BASE, 3);
    const c = await runtime.launch({ ...busyboxPlan('maps', ['sleep', '30'], uidMap), gidMap });
    const fields = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/).map(Number));
    expect(fields(readFileSync(`/proc/${c.pid}/uid_map`, 'utf8'))).toEqual(uidMap.map((l) => [l.nsId, l.hostId, l.count]));
    expect(fields(readFileSync(`/proc/${c.pid}/gid_map`, 'utf8'))).toEqual(gidMap.map((l) => [l.nsId, l.hostId, l.count]));
    expect(statSync(`/proc/${c.pid}`).uid).toBe(BASE + 2 * 65536);
    await runtime.stop('maps', 0);
  });

  it('lands files created inside in the upper dir owned by the container host root, leaving the image untouched', async () => {
    const image = busyboxImage();
    const before = statSync(join(image, 'etc/passwd'));
    const imageEntries = readdirSync(image).sort();
    const { status } = await runToExit(
      'files',
      'echo new > /created; echo changed >> /etc/passwd; chown 1000:1000 /created && mkdir /d && chown 5:6 /d',
      4,
    );
    expect(status.exitCode).toBe(0);
    const upper = join(stateDir, 'containers', 'files', 'upper');
    const hostRoot = BASE + 4 * 65536;
    expect(statSync(join(upper, 'created'))).toMatchObject({ uid: hostRoot + 1000, gid: hostRoot + 1000 });
    expect(statSync(join(upper, 'd'))).toMatchObject({ uid: hostRoot + 5, gid: hostRoot + 6 });
    // The copied-up passwd belongs to the container's root; the image's copy is unchanged.
    expect(statSync(join(upper, 'etc/passwd'))).toMatchObject({ uid: hostRoot, gid: hostRoot });
    expect(readFileSync(join(upper, 'etc/passwd'), 'utf8')).toContain('changed');
    const after = statSync(join(image, 'etc/passwd'));
    expect(after).toMatchObject({ uid: 0, gid: 0, size: before.size, mtimeMs: before.mtimeMs });
    expect(readdirSync(image).sort()).toEqual(imageEntries);
    expect(statSync(join(image, 'bin/busybox')).uid).toBe(0);
  });

  it('writes stdout and stderr to the log file and records the exit code', async () => {
    const logFile = join(stateDir, 'custom.log');
    await runtime.launch(
      busyboxPlan('logs', ['sh', '-c', 'echo out; echo err >&2; exit 42'], slice(BASE, 5), { logFile, env: { GREETING: 'hello' } }),
    );
    const status = await runtime.wait('logs');
    expect(status).toMatchObject({ exitCode: 42, signal: null });
    expect(readFileSync(logFile, 'utf8')).toBe('out\nerr\n');
    const record = runtime.status('logs');
    expect(record.state).toBe('exited');
    expect(record.exit?.exitCode).toBe(42);
  });

  it('passes env and cwd to the command', async () => {
    const { status, log } = await runToExit('envcwd', 'echo "$GREETING $(pwd)"', 6).catch(() => ({ status: null, log: '' }));
    expect(status?.exitCode).toBe(0);
    expect(log).toBe(' /\n');
    await runtime.launch(
      busyboxPlan('envcwd2', ['sh', '-c', 'echo "$GREETING $(pwd)"'], slice(BASE, 7), { env: ['GREETING=hello'], cwd: '/tmp' }),
    );
    await runtime.wait('envcwd2');
    expect(readFileSync(join(stateDir, 'containers', 'envcwd2', 'console.log'), 'utf8')).toBe('hello /tmp\n');
  });

  it('reports a failed step with its syscall and errno, and leaves nothing behind', async () => {
    const err = await runtime.launch(busyboxPlan('missing', ['/no/such/binary'], slice(BASE, 8), { limits: { pids: 10 } })).catch((e) => e);
    expect(err).toBeInstanceOf(NativeError);
    expect(err).toMatchObject({ code: 'ENOENT', step: 'exec', syscall: 'execve' });
    expect(existsSync(join(stateDir, 'containers', 'missing'))).toBe(false);
    expect(leftoverCgroups(launcherPidOf(stateDir), 'missing')).toEqual([]);
    expect(await runtime.running()).toEqual([]);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    expect(mounts).not.toContain(stateDir);
  });

  it("reports the child's own failure when it fails while the launcher still moves it into its cgroups", async () => {
    // enter-cwd fails before the child waits for its cgroups: the launcher must report that
    // step, not a broken handshake, however the two interleave.
    for (let i = 0; i < 5; i++) {
      const id = `nocwd-${i}`;
      const err = await runtime.launch(busyboxPlan(id, ['true'], slice(BASE, 8), { cwd: '/no/such/dir' })).catch((e) => e);
      expect(err).toMatchObject({ code: 'ENOENT', step: 'enter-cwd', syscall: 'chdir' });
      expect(existsSync(join(stateDir, 'containers', id))).toBe(false);
      expect(leftoverCgroups(launcherPidOf(stateDir), id)).toEqual([]);
    }
  });

  it('refuses a second container with an id that is running', async () => {
    await runtime.launch(busyboxPlan('twice', ['sleep', '30'], slice(BASE, 9)));
    const err = await runtime.launch(busyboxPlan('twice', ['sleep', '30'], slice(BASE, 9))).catch((e) => e);
    expect(err).toMatchObject({ code: 'EEXIST', step: 'launch' });
    await runtime.stop('twice', 0);
  });

  it('keeps nothing in the host mount table', async () => {
    writeFileSync(join(stateDir, 'marker'), '');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(stateDir);
  });
});
