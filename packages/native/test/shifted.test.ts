import { lstatSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ContainerRuntime, prepareShiftedCopy, type ShiftProgress } from '@nagaya/native';

import { busyboxImage, busyboxPlan, openTestRuntime, slice } from './helpers';

// Host ids for this file: 1_750_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_750_000_000;

describe('shifted-copy fallback (no idmapped mounts)', () => {
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ stateDir, cleanup } = await openTestRuntime('shifted'));
  });
  afterAll(async () => cleanup());

  it('copies an image with every owner shifted into the slice and reports progress', async () => {
    const progress: ShiftProgress[] = [];
    const dest = join(stateDir, 'copy');
    await prepareShiftedCopy(busyboxImage(), dest, slice(BASE, 0), slice(BASE, 0), (p) => progress.push(p));
    expect(statSync(join(dest, 'bin/busybox'))).toMatchObject({
      uid: BASE,
      gid: BASE,
      mode: statSync(join(busyboxImage(), 'bin/busybox')).mode,
    });
    expect(lstatSync(join(dest, 'bin/sh'))).toMatchObject({ uid: BASE });
    expect(lstatSync(join(dest, 'bin/sh')).isSymbolicLink()).toBe(true);
    expect(progress.at(-1)?.done).toBe(true);
    expect(progress.at(-1)?.files).toBeGreaterThan(100);
    expect(statSync(join(busyboxImage(), 'bin/busybox')).uid).toBe(0); // the shared image is untouched
  });

  it('launches from a shifted copy when idmapped mounts are turned off', async () => {
    const fallback = await ContainerRuntime.open({ stateDir, idmappedMounts: 'off' });
    try {
      const progress: ShiftProgress[] = [];
      await fallback.launch(busyboxPlan('shifted', ['sh', '-c', 'id -u; stat -c %u /bin/busybox; touch /new'], slice(BASE, 1)), {
        onShiftProgress: (p) => progress.push(p),
      });
      expect(await fallback.wait('shifted')).toMatchObject({ exitCode: 0 });
      expect(progress.at(-1)?.done).toBe(true);
      const dir = join(stateDir, 'containers', 'shifted');
      expect(readFileSync(join(dir, 'console.log'), 'utf8')).toBe('0\n0\n');
      expect(statSync(join(dir, 'shifted-image/bin/busybox')).uid).toBe(BASE + 65536);
      expect(statSync(join(dir, 'upper/new')).uid).toBe(BASE + 65536);
    } finally {
      fallback.close();
    }
  });
});
