import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { NativeError, mountNotMade } from '../src/errors';
import { encodeLaunchRequest } from '../src/launcher-messages';
import { MAX_MOUNTS, resolveLaunchPlan, type ContainerMount, type LaunchPlan } from '../src/plan';
import { decodeMessage } from '../src/protocol';

// Validation only stats the image, so any directory stands in for one; mount sources are not
// touched at all (the launcher opens them).
const image = mkdtempSync(join(tmpdir(), 'nagaya-plan-mounts-image-'));
afterAll(() => rmSync(image, { recursive: true, force: true }));

const stateDir = '/var/lib/nagaya-test-state';
const map = [{ nsId: 0, hostId: 1_760_000_000, count: 65536 }];

function plan(mounts: unknown): LaunchPlan {
  return { id: 'ok', image, argv: ['true'], uidMap: map, gidMap: map, mounts: mounts as ContainerMount[] };
}

function problemsOf(mounts: unknown): string[] {
  try {
    resolveLaunchPlan(plan(mounts), stateDir);
  } catch (err) {
    expect(err).toBeInstanceOf(NativeError);
    expect((err as NativeError).code).toBe('INVALID_PLAN');
    return (err as NativeError).details as string[];
  }
  return [];
}

const volume = (target: string, extra: Partial<ContainerMount> = {}): ContainerMount => ({
  source: `/var/lib/nagaya/volumes/v${target.replace(/\//g, '_')}`,
  target,
  idmap: true,
  ...extra,
});

describe('launch plan mounts', () => {
  it('resolves no mounts to an empty list and fills readOnly in', () => {
    expect(resolveLaunchPlan(plan(undefined), stateDir).mounts).toEqual([]);
    expect(resolveLaunchPlan(plan([volume('/data')]), stateDir).mounts).toEqual([
      { source: '/var/lib/nagaya/volumes/v_data', target: '/data', readOnly: false, idmap: true },
    ]);
    expect(resolveLaunchPlan(plan([volume('/data', { readOnly: true, idmap: false })]), stateDir).mounts[0]).toMatchObject({
      readOnly: true,
      idmap: false,
    });
  });

  it('sorts mounts so that a parent comes before every mount beneath it', () => {
    const targets = ['/srv/a/b/c', '/srv/a-b', '/srv', '/srv/a/b', '/data', '/srv/a'];
    const resolved = resolveLaunchPlan(plan(targets.map((t) => volume(t))), stateDir).mounts.map((m) => m.target);
    expect(resolved).toEqual(['/data', '/srv', '/srv/a', '/srv/a-b', '/srv/a/b', '/srv/a/b/c']);
    for (const [i, target] of resolved.entries()) {
      for (const later of resolved.slice(i + 1)) expect(target.startsWith(`${later}/`)).toBe(false);
    }
  });

  it('refuses targets that are not absolute, normalised paths', () => {
    const cases: Array<[string, RegExp]> = [
      ['data', /mounts\[1\]\.target must be an absolute path/],
      ['./data', /must be an absolute path/],
      ['/data/../etc', /must not contain "\.\."/],
      ['/..', /must not contain "\.\."/],
      ['/data/./x', /must be normalised/],
      ['//data', /must be normalised/],
      ['/data//x', /must be normalised/],
      ['/data/', /must be normalised/],
      ['/', /must not be "\/"/],
      ['', /must be a non-empty string/],
      ['/da\0ta', /must not contain NUL/],
      [`/${'x'.repeat(4096)}`, /at most 4096 bytes/],
    ];
    for (const [target, problem] of cases)
      expect([target, problemsOf([volume('/ok'), { ...volume('/y'), target }])]).toEqual([target, [expect.stringMatching(problem)]]);
    // 4096 bytes counted as bytes, not characters
    expect(problemsOf([{ ...volume('/y'), target: `/${'é'.repeat(2048)}` }])).toEqual([expect.stringMatching(/at most 4096 bytes/)]);
    expect(problemsOf([{ ...volume('/y'), target: `/${'x'.repeat(4095)}` }])).toEqual([]);
  });

  it('refuses targets where the launcher mounts the kernel filesystems', () => {
    for (const target of ['/proc', '/proc/sys', '/sys/fs', '/dev', '/dev/shm']) {
      expect(problemsOf([volume(target)])).toEqual([expect.stringMatching(/must not be in \/(proc|sys|dev)/)]);
    }
    for (const target of ['/procfs', '/system', '/devices']) expect(problemsOf([volume(target)])).toEqual([]);
  });

  it('refuses two mounts at one target', () => {
    expect(problemsOf([volume('/data'), volume('/other'), { ...volume('/data'), source: '/elsewhere' }])).toEqual([
      'mounts[2].target is the target of mounts[0] too',
    ]);
  });

  it('refuses bad sources, flags and shapes', () => {
    expect(problemsOf([{ ...volume('/d'), source: 'relative/dir' }])).toEqual(['mounts[0].source must be an absolute path']);
    expect(problemsOf([{ ...volume('/d'), source: '/a/../b' }])).toEqual(['mounts[0].source must not contain ".."']);
    expect(problemsOf([{ ...volume('/d'), source: '/a/' }])).toEqual([expect.stringMatching(/source must be normalised/)]);
    expect(problemsOf([{ ...volume('/d'), source: `/${'s'.repeat(4096)}` }])).toEqual([expect.stringMatching(/at most 4096 bytes/)]);
    expect(problemsOf([{ source: '/s', target: '/d' }])).toEqual(['mounts[0].idmap must be a boolean']);
    expect(problemsOf([{ ...volume('/d'), idmap: 'yes' }])).toEqual(['mounts[0].idmap must be a boolean']);
    expect(problemsOf([{ ...volume('/d'), readOnly: 1 }])).toEqual(['mounts[0].readOnly must be a boolean']);
    expect(problemsOf([{ ...volume('/d'), propagation: 'shared' }])).toEqual(['mounts[0].propagation is not a known option']);
    expect(problemsOf(['/d'])).toEqual(['mounts[0] must be an object']);
    expect(problemsOf([null])).toEqual(['mounts[0] must be an object']);
    expect(problemsOf({ source: '/s', target: '/d', idmap: true })).toEqual([`mounts must be an array of at most ${MAX_MOUNTS} mounts`]);
  });

  it('takes at most MAX_MOUNTS mounts', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => volume(`/m${i}`));
    expect(MAX_MOUNTS).toBe(32);
    expect(problemsOf(many(MAX_MOUNTS))).toEqual([]);
    expect(problemsOf(many(MAX_MOUNTS + 1))).toEqual([`mounts must be an array of at most ${MAX_MOUNTS} mounts`]);
  });

  it('sends each mount to the launcher as source, target and flags, in mount order', () => {
    const resolved = resolveLaunchPlan(
      plan([volume('/b/c', { readOnly: true }), volume('/b', { idmap: false }), volume('/a=b', { readOnly: true, idmap: false })]),
      stateDir,
    );
    const message = decodeMessage(encodeLaunchRequest('1', resolved));
    expect(message.all('mount_target')).toEqual(['/a=b', '/b', '/b/c']);
    expect(message.all('mount_source')).toEqual(resolved.mounts.map((m) => m.source));
    expect(message.all('mount_flags')).toEqual(['1', '0', '3']);
    expect(decodeMessage(encodeLaunchRequest('2', resolveLaunchPlan(plan(undefined), stateDir))).all('mount_source')).toEqual([]);
  });

  it("names the mount of a launcher failure at step mount-volume:<index>, and leaves other steps' errors alone", () => {
    const mounts = resolveLaunchPlan(plan([volume('/b'), volume('/a')]), stateDir).mounts;
    const failed = mountNotMade(NativeError.fromStep('mount-volume:1', 'open', 20), mounts);
    expect(failed).toMatchObject({
      code: 'ENOTDIR',
      step: 'mount-volume',
      syscall: 'open',
      errno: 20,
      details: { source: mounts[1]!.source, target: '/b' },
      message: `cannot mount ${mounts[1]!.source} at /b: open: not a directory`,
    });
    expect(mountNotMade(NativeError.fromStep('mount-volume:0', 'mount_setattr', 22), mounts)?.message).toBe(
      `cannot mount ${mounts[0]!.source} at /a: mount_setattr: EINVAL (the source's filesystem cannot be idmapped)`,
    );
    expect(mountNotMade(NativeError.fromStep('mount-volume:2', 'open', 20), mounts)).toBeUndefined();
    expect(mountNotMade(NativeError.fromStep('pivot-root', 'pivot_root', 1), mounts)).toBeUndefined();
  });
});
