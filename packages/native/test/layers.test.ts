import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ContainerRuntime, MAX_LAYERS, type LaunchPlan } from '@nagaya/native';

import { busyboxImage, openTestRuntime, slice } from './helpers';
import { layerTools, treeDigest } from './support/layers';

// Host ids for this file: 1_950_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_950_000_000;

/** Writes a file, making its directory; mode is set after the write (the umask would clear setuid). */
function put(path: string, content: string, mode = 0o644): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  chmodSync(path, mode);
}

describe('image layers stacked as idmapped overlay lowers', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;
  let root: string;
  let tools: ReturnType<typeof layerTools>;
  /** Topmost first: layer 3, layer 2, layer 1 (busybox and the files the others change). */
  let layers: string[];

  const plan = (id: string, argv: string[], index: number): LaunchPlan => ({
    id,
    layers,
    argv,
    uidMap: slice(BASE, index),
    gidMap: slice(BASE, index),
  });
  const consoleOf = (id: string) => readFileSync(join(stateDir, 'containers', id, 'console.log'), 'utf8');

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('layers'));
    root = mkdtempSync(join(tmpdir(), 'nagaya-layers-'));
    tools = layerTools(root);
    const [l1, l2, l3] = ['layer1', 'layer2', 'layer3'].map((name) => join(root, name));
    execFileSync('cp', ['-a', busyboxImage(), l1]);
    put(join(l1, 'data/override'), 'layer1\n');
    put(join(l1, 'data/gone'), 'gone\n');
    put(join(l1, 'data/kept'), 'kept\n');
    put(join(l1, 'data/suid'), '#!/bin/sh\n', 0o4755);
    put(join(l1, 'opaque/old'), 'old\n');
    put(join(l1, 'merged/from1'), '1\n');
    put(join(l1, 'replaced/deep'), 'deep\n');

    mkdirSync(join(l2, 'data'), { recursive: true });
    tools.whiteout(join(l2, 'data/gone'));
    put(join(l2, 'opaque/new'), 'new\n');
    tools.markOpaque(join(l2, 'opaque'));
    put(join(l2, 'merged/from2'), '2\n');

    put(join(l3, 'data/override'), 'layer3\n');
    layers = [l3, l2, l1];
  });
  afterAll(async () => {
    await cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it('shows the topmost copy of a file, applies the whiteout and opaque dir of a middle layer, merges the rest', async () => {
    const script = [
      'cat /data/override',
      'ls /data | tr "\\n" " "; echo',
      'ls /opaque | tr "\\n" " "; echo',
      'ls /merged | tr "\\n" " "; echo',
      'test -e /data/gone || echo gone-is-absent',
    ].join('; ');
    await runtime.launch(plan('stack', ['sh', '-c', script], 0));
    expect(await runtime.wait('stack')).toMatchObject({ exitCode: 0 });
    expect(consoleOf('stack')).toBe('layer3\nkept override suid \nnew \nfrom1 from2 \ngone-is-absent\n');
  });

  it('a setuid file of a lower layer keeps its mode and belongs to the container root: 0 inside, the slice start on the host', async () => {
    const c = await runtime.launch(plan('suid', ['sleep', '600'], 1));
    try {
      const inside = await runtime.exec('suid', ['stat', '-c', '%a %u %g', '/data/suid']);
      expect(inside.stdout).toBe('4755 0 0\n');
      const seenFromHost = statSync(`/proc/${c.pid}/root/data/suid`);
      expect(seenFromHost).toMatchObject({ uid: BASE + 65536, gid: BASE + 65536 });
      expect(seenFromHost.mode & 0o7777).toBe(0o4755);
      expect(statSync(join(layers[2], 'data/suid'))).toMatchObject({ uid: 0, gid: 0 }); // on disk: never chowned
      expect(readdirSync(`/proc/${c.pid}/fd`).sort()).toEqual(['0', '1', '2']); // no layer's fd reached the container
    } finally {
      await runtime.stop('suid', 0);
    }
  });

  it('writes go to the upper layer only, replacing a merged dir included; the layer dirs stay as they were', async () => {
    const before = layers.map(treeDigest);
    const script = [
      'echo changed > /data/override',
      'echo made > /data/created',
      'rm /data/kept',
      'echo more >> /opaque/new',
      'rm -r /replaced && mkdir /replaced && echo fresh > /replaced/only',
      'ls /replaced',
    ].join(' && ');
    await runtime.launch(plan('writes', ['sh', '-c', script], 2));
    expect(await runtime.wait('writes')).toMatchObject({ exitCode: 0 });
    expect(consoleOf('writes')).toBe('only\n');
    expect(layers.map(treeDigest)).toEqual(before);

    const upper = join(stateDir, 'containers', 'writes', 'upper');
    expect(readFileSync(join(upper, 'data/override'), 'utf8')).toBe('changed\n');
    expect(statSync(join(upper, 'data/override'))).toMatchObject({ uid: BASE + 2 * 65536 });
    expect(readFileSync(join(upper, 'opaque/new'), 'utf8')).toBe('new\nmore\n');
    const kept = lstatSync(join(upper, 'data/kept'));
    expect(kept.isCharacterDevice() && kept.rdev === 0).toBe(true); // overlay's own whiteout
    // mounted with userxattr in the container's user namespace: the opaque mark is a user xattr
    expect(tools.readXattr(join(upper, 'replaced'), 'user.overlay.opaque')).toBe('y');

    // the next run of the same container sees the same tree
    const check = 'ls /replaced; cat /data/override /data/created; ls /data | tr "\\n" " "';
    await runtime.launch(plan('writes', ['sh', '-c', check], 2));
    expect(await runtime.wait('writes')).toMatchObject({ exitCode: 0 });
    expect(consoleOf('writes')).toBe('only\nonly\nchanged\nmade\ncreated override suid ');
    expect(layers.map(treeDigest)).toEqual(before);
  });

  it('one set of layer dirs serves two running containers of different slices at once, each with its own ids', async () => {
    const a = await runtime.launch(plan('share-a', ['sleep', '600'], 3));
    const b = await runtime.launch(plan('share-b', ['sleep', '600'], 4));
    try {
      expect(statSync(`/proc/${a.pid}/root/data/suid`).uid).toBe(BASE + 3 * 65536);
      expect(statSync(`/proc/${b.pid}/root/data/suid`).uid).toBe(BASE + 4 * 65536);
      expect(statSync(`/proc/${a.pid}/root/bin/busybox`).uid).toBe(BASE + 3 * 65536);
      for (const id of ['share-a', 'share-b']) {
        expect((await runtime.exec(id, ['sh', '-c', 'id -u; stat -c "%u %g" /data/suid /bin/busybox'])).stdout).toBe('0\n0 0\n0 0\n');
      }
      expect((await runtime.exec('share-a', ['sh', '-c', 'echo from-a > /data/override'])).exitCode).toBe(0);
      expect((await runtime.exec('share-b', ['cat', '/data/override'])).stdout).toBe('layer3\n');
      expect(readFileSync(join(layers[0], 'data/override'), 'utf8')).toBe('layer3\n');
    } finally {
      await Promise.all([runtime.stop('share-a', 0), runtime.stop('share-b', 0)]);
    }
  });

  it('stacks the most layers a plan may have: every fd in one message, every layer seen', async () => {
    const many = Array.from({ length: MAX_LAYERS - 1 }, (_, i) => {
      const dir = join(root, 'many', String(i));
      put(join(dir, 'layers', String(i)), `${i}\n`);
      return dir;
    });
    const id = 'many-layers';
    await runtime.launch({ ...plan(id, ['sh', '-c', 'ls /layers | wc -l; cat /layers/0 /layers/126'], 6), layers: [...many, layers[2]] });
    expect(await runtime.wait(id)).toMatchObject({ exitCode: 0 });
    expect(
      consoleOf(id)
        .split('\n')
        .map((l) => l.trim()),
    ).toEqual(['127', '0', '126', '']);
  });

  it('refuses a layered image where only a shifted copy could run it, and leaves nothing behind', async () => {
    const shifted = await ContainerRuntime.open({ stateDir, idmappedMounts: 'off' });
    try {
      await expect(shifted.launch(plan('no-shift', ['true'], 5))).rejects.toMatchObject({
        code: 'EOPNOTSUPP',
        message: expect.stringMatching(/3-layer image needs idmapped mounts/),
      });
      expect(existsSync(join(stateDir, 'containers', 'no-shift'))).toBe(false);
      await expect(shifted.launch({ ...plan('no-shift', ['true'], 5), rootfsMode: 'shifted' })).rejects.toMatchObject({
        code: 'INVALID_PLAN',
      });
    } finally {
      shifted.close();
    }
  });
});
