import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { directoryDiskBytes, readCgroupUsage } from '../src/container-usage';

const root = mkdtempSync(join(tmpdir(), 'nagaya-usage-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('readCgroupUsage', () => {
  // A directory outside /sys/fs/cgroup/<v1 controller>/ is read as a v2 cgroup: the files are its interface.
  it('reads a v2 cgroup: memory.current, memory.peak, cpu.stat usage_usec and pids.current', () => {
    const dir = join(root, 'v2');
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.current'), '33554432\n');
    writeFileSync(join(dir, 'memory.peak'), '41943040\n');
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n');
    writeFileSync(join(dir, 'pids.current'), '4\n');
    expect(readCgroupUsage([dir])).toEqual({ memoryBytes: 33554432, memoryPeakBytes: 41943040, cpuSeconds: 2.5, pids: 4 });
  });

  it('gives null for what no cgroup counts (memory.peak before Linux 5.19, no cgroup at all)', () => {
    const dir = join(root, 'old-v2');
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.current'), '1024\n');
    writeFileSync(join(dir, 'pids.current'), '1\n');
    expect(readCgroupUsage([dir])).toEqual({ memoryBytes: 1024, memoryPeakBytes: null, cpuSeconds: null, pids: 1 });
    expect(readCgroupUsage([])).toEqual({ memoryBytes: null, memoryPeakBytes: null, cpuSeconds: null, pids: null });
  });
});

describe('directoryDiskBytes', () => {
  it('counts the blocks of a tree, not what a symlink in it points at, and null for a missing directory', async () => {
    const dir = join(root, 'upper');
    mkdirSync(dir);
    const empty = (await directoryDiskBytes(dir))!;
    writeFileSync(join(dir, 'data'), Buffer.alloc(1024 * 1024, 1));
    symlinkSync('/usr', join(dir, 'escape'));
    const grown = (await directoryDiskBytes(dir))!;
    expect(grown - empty).toBeGreaterThanOrEqual(1024 * 1024);
    expect(grown - empty).toBeLessThan(2 * 1024 * 1024); // /usr was not walked
    expect(await directoryDiskBytes(join(root, 'missing'))).toBeNull();
  });
});
