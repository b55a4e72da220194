import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

import { buildBusyboxImage } from '@nagaya/native';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'nagaya-image-race-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('busybox image', () => {
  it('built by six processes at once: the first image in place stays, the others are discarded', async () => {
    const dir = join(root, 'busybox');
    const builder = resolve(__dirname, 'support/build-busybox-image.ts');
    const building = Promise.all(Array.from({ length: 6 }, () => run(process.execPath, ['--import', 'tsx', builder, dir])));
    let done = false;
    void building.finally(() => (done = true));
    // Watch the image from the moment it appears: a container launched from it would be using
    // these very files, so the tree must never be removed or swapped for another.
    const inodes = new Set<number>();
    while (!done) {
      try {
        inodes.add(statSync(join(dir, 'bin', 'busybox')).ino);
      } catch {
        /* not in place yet */
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await building;
    inodes.add(statSync(join(dir, 'bin', 'busybox')).ino);
    expect(inodes.size).toBe(1);
    expect(existsSync(join(dir, 'bin', 'sh'))).toBe(true);
    expect(readdirSync(root)).toEqual(['busybox']); // no working copy left behind
  });

  it('an image of another busybox binary is moved aside, not removed, and the new one takes its place', () => {
    const dir = join(root, 'upgraded');
    buildBusyboxImage(dir);
    const marker = join(dir, '.nagaya-image');
    writeFileSync(marker, '{"image":"busybox","source":"/bin/busybox","size":1,"mtimeMs":1}'); // as if built from an older binary
    const oldInode = statSync(join(dir, 'bin', 'busybox')).ino;
    buildBusyboxImage(dir);
    expect(readFileSync(marker, 'utf8')).toContain(`"size":${statSync('/bin/busybox').size}`);
    const aside = readdirSync(root).filter((n) => n.startsWith('.upgraded.replaced-'));
    expect(aside).toHaveLength(1);
    expect(statSync(join(root, aside[0]!, 'bin', 'busybox')).ino).toBe(oldInode); // still there for containers using it
  });

  it('makes a missing store root-only (0700) beneath a data directory containers can pass (0711)', () => {
    const dir = join(root, 'data', 'images', 'busybox');
    buildBusyboxImage(dir);
    expect(statSync(join(root, 'data', 'images')).mode & 0o7777).toBe(0o700);
    expect(statSync(join(root, 'data')).mode & 0o7777).toBe(0o711);
    expect(readdirSync(join(root, 'data', 'images'))).toEqual(['busybox']);
  });
});
