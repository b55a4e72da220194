import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readContainerFile, singleFileTar, singleFileTarHead, writeIntoContainer, type ContainerRuntime } from '@nagaya/native';

import { busyboxPlan, openTestRuntime, slice } from './helpers';

// Host ids for this file: 1_990_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_990_000_000;
const LIMITS = { maxBytes: 64 << 20, maxEntries: 1000, maxDepth: 64 };

describe('files in and out of a running container', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;
  let pid: number;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('container-files'));
    pid = (await runtime.launch(busyboxPlan('files-1', ['sleep', '600'], slice(BASE, 0)))).pid;
  });
  afterAll(async () => cleanup());

  it('writes a file with container-relative owners that land in the slice, and reads it back', async () => {
    const data = randomBytes(300_000);
    await writeIntoContainer(pid, '/tmp', singleFileTar('blob.bin', data, { mode: 0o640, uid: 1000, gid: 1001 }), LIMITS);
    const read = await readContainerFile(pid, '/tmp/blob.bin', 1 << 20);
    expect(read.data.equals(data)).toBe(true);
    expect([read.mode, read.uid, read.gid]).toEqual([0o640, 1000, 1001]);
    const inside = await runtime.exec('files-1', ['stat', '-c', '%a %u %g', '/tmp/blob.bin']);
    expect(inside.stdout).toBe('640 1000 1001\n');
    const onHost = statSync(join(stateDir, 'containers', 'files-1', 'upper', 'tmp', 'blob.bin'));
    expect([onHost.uid, onHost.gid]).toEqual([BASE + 1000, BASE + 1001]);
  });

  it('follows a symlink to / inside the container, never onto the host', async () => {
    await runtime.exec('files-1', ['ln', '-s', '/', '/escape']);
    const name = `nagaya-escape-${process.pid}`;
    await writeIntoContainer(pid, '/escape/tmp', singleFileTar(name, Buffer.from('inside'), { mode: 0o600, uid: 0, gid: 0 }), LIMITS);
    expect((await runtime.exec('files-1', ['cat', `/tmp/${name}`])).stdout).toBe('inside');
    expect(() => statSync(`/tmp/${name}`)).toThrow();
  });

  it('reads a directory as a tar of its tree, symlinks sent as symlinks', async () => {
    await runtime.exec('files-1', ['sh', '-c', 'mkdir -p /tree/sub && echo hi > /tree/sub/f && ln -s / /tree/root']);
    const tree = await readContainerFile(pid, '/tree', 1 << 20);
    expect(tree.type).toBe('directory');
    const listing = execFileSync('tar', ['-tvf', '-'], { input: tree.data }).toString();
    expect(listing).toMatch(/\.\/sub\/f\n/);
    expect(listing).toMatch(/\.\/root -> \/\n/);
    await expect(readContainerFile(pid, '/tree', 1024)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('writes a file under a temporary name renamed into place whole: a tar cut short keeps the old file, and leaves no partial one', async () => {
    const tmp = join(stateDir, 'containers', 'files-1', 'upper', 'tmp');
    await writeIntoContainer(pid, '/tmp', singleFileTar('kept.bin', Buffer.from('old'), { mode: 0o644, uid: 0, gid: 0 }), LIMITS);
    const cut = Buffer.concat([singleFileTarHead('kept.bin', 1 << 20, { mode: 0o644, uid: 0, gid: 0 }), randomBytes(300_000)]);
    await expect(writeIntoContainer(pid, '/tmp', cut, LIMITS)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    // and past the limit midway: the same
    const big = singleFileTar('kept.bin', randomBytes(200_000), { mode: 0o644, uid: 0, gid: 0 });
    await expect(writeIntoContainer(pid, '/tmp', big, { ...LIMITS, maxBytes: 100_000 })).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    expect(readFileSync(join(tmp, 'kept.bin'), 'utf8')).toBe('old');
    expect(readdirSync(tmp).filter((n) => n.startsWith('.nagaya-partial-'))).toEqual([]);
  });

  it('refuses devices, devices and a read over the limit', async () => {
    await expect(readContainerFile(pid, '/dev/null', 1 << 20)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(readContainerFile(pid, '/tmp/blob.bin', 1000)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    await expect(readContainerFile(pid, '/nope', 1000)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
