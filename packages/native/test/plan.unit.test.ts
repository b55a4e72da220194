import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { NativeError } from '../src/errors';
import { hostIfNameFor, macFromIp } from '../src/network-plan';
import { DEFAULT_PIDS_MAX, execCandidates, MAX_LAYERS, resolveLaunchPlan, type LaunchPlan } from '../src/plan';

// Validation only stats the image, so any directory stands in for one.
const image = mkdtempSync(join(tmpdir(), 'nagaya-plan-image-'));
afterAll(() => rmSync(image, { recursive: true, force: true }));

const stateDir = '/var/lib/nagaya-test-state';
const map = [{ nsId: 0, hostId: 1_700_000_000, count: 65536 }];

function plan(overrides: Partial<LaunchPlan> = {}): LaunchPlan {
  return { id: 'ok', image, argv: ['true'], uidMap: map, gidMap: map, ...overrides };
}

function problemsOf(p: LaunchPlan): string[] {
  try {
    resolveLaunchPlan(p, stateDir);
  } catch (err) {
    expect(err).toBeInstanceOf(NativeError);
    expect((err as NativeError).code).toBe('INVALID_PLAN');
    expect((err as NativeError).syscall).toBeUndefined();
    return (err as NativeError).details as string[];
  }
  return [];
}

describe('launch plan validation', () => {
  it('accepts a good plan and fills in defaults', () => {
    const r = resolveLaunchPlan(plan(), stateDir);
    expect(r).toMatchObject({ id: 'ok', hostname: 'ok', cwd: '/', idmapped: true, memoryBytes: 0, pids: DEFAULT_PIDS_MAX, cpuQuotaUs: 0 });
    expect(r.env[0]).toMatch(/^PATH=/);
    expect(r.containerDir).toBe(join(stateDir, 'containers', 'ok'));
    expect(r.logFile).toBe(join(stateDir, 'containers', 'ok', 'console.log'));
    expect(r.execCandidates).toContain('/bin/true');
    expect(resolveLaunchPlan(plan({ limits: { cpus: 1.5 } }), stateDir).cpuQuotaUs).toBe(150_000);
    expect(r.nesting).toBe(false);
    expect(resolveLaunchPlan(plan({ security: { nesting: true } }), stateDir).nesting).toBe(true);
  });

  it('resolves argv[0] through PATH like execvp', () => {
    expect(execCandidates('/bin/sh', [])).toEqual(['/bin/sh']);
    expect(execCandidates('sh', ['PATH=/a:/b/:relative'])).toEqual(['/a/sh', '/b/sh']);
  });

  it.each<[string, Partial<LaunchPlan>, RegExp]>([
    ['bad id', { id: 'Not Valid' }, /^id must/],
    ['relative image', { image: 'images/busybox' }, /image must be an absolute path/],
    ['missing image', { image: '/no/such/image' }, /does not exist/],
    ['NUL in image path', { image: '/a\0b' }, /must not contain NUL/],
    ['empty argv', { argv: [] }, /argv must be a non-empty/],
    ['NUL in argv', { argv: ['sh', 'a\0b'] }, /argv\[1\]/],
    ['env without =', { env: ['NOPE'] }, /not KEY=VALUE/],
    ['relative cwd', { cwd: 'tmp' }, /cwd must be an absolute path/],
    ['hostname not a DNS label', { hostname: 'has_underscore' }, /hostname must be a DNS label/],
    ['hostname too long', { hostname: 'a'.repeat(64) }, /hostname must be a DNS label/],
    ['no map', { uidMap: [] }, /uidMap must have at least one line/],
    ['host root mapped', { uidMap: [{ nsId: 0, hostId: 0, count: 65536 }] }, /maps host id 0/],
    ['ns 0 unmapped', { gidMap: [{ nsId: 1, hostId: 1_700_000_000, count: 10 }] }, /must map namespace id 0/],
    [
      'overlapping ns ranges',
      {
        uidMap: [
          { nsId: 0, hostId: 1_700_000_000, count: 100 },
          { nsId: 50, hostId: 1_800_000_000, count: 100 },
        ],
      },
      /overlap on the namespace side/,
    ],
    [
      'overlapping host ranges',
      {
        uidMap: [
          { nsId: 0, hostId: 1_700_000_000, count: 100 },
          { nsId: 100, hostId: 1_700_000_050, count: 100 },
        ],
      },
      /overlap on the host side/,
    ],
    ['range past 2^32-1', { uidMap: [{ nsId: 0, hostId: 2 ** 32 - 10, count: 65536 }] }, /reaches host id 2\^32-1/],
    ['zero count', { uidMap: [{ nsId: 0, hostId: 1_700_000_000, count: 0 }] }, /count must be at least 1/],
    ['fractional id', { uidMap: [{ nsId: 0, hostId: 1.5, count: 1 }] }, /hostId must be a non-negative integer/],
    ['tiny memory limit', { limits: { memoryBytes: 1000 } }, /memoryBytes/],
    ['zero pids', { limits: { pids: 0 } }, /pids must be a positive integer/],
    ['negative cpus', { limits: { cpus: -1 } }, /cpus must be/],
    ['unknown rlimit', { rlimits: { bogus: 1 } as never }, /not a known rlimit/],
    ['relative log file', { logFile: 'log.txt' }, /logFile must be an absolute path/],
    ['security not an object', { security: true as never }, /security must be an object/],
    ['nesting not a boolean', { security: { nesting: 'yes' as never } }, /security.nesting must be a boolean/],
    ['unknown security option', { security: { privileged: true } as never }, /security.privileged is not a known option/],
  ])('refuses %s', (_name, overrides, expected) => {
    const problems = problemsOf(plan(overrides));
    expect(
      problems.some((p) => expected.test(p)),
      problems.join(' | '),
    ).toBe(true);
  });

  it('allows 340 map lines and refuses 341', () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => ({ nsId: i * 10, hostId: 1_700_000_000 + i * 10, count: 10 }));
    expect(problemsOf(plan({ uidMap: lines(340) }))).toEqual([]);
    expect(problemsOf(plan({ uidMap: lines(341) })).join()).toMatch(/341 lines/);
  });

  it('lists every problem of a plan at once', () => {
    expect(problemsOf(plan({ id: 'X', argv: [], hostname: '-' })).length).toBeGreaterThanOrEqual(3);
  });
});

describe('launch plan layers', () => {
  // Layers reach overlay as fds, so a digest-named directory ("sha256:…", a ',' too) is fine.
  const layerDir = (name: string) => {
    const dir = join(image, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const layersPlan = (layers: unknown, extra: Partial<LaunchPlan> = {}): LaunchPlan =>
    ({ ...plan(), image: undefined, layers, ...extra }) as LaunchPlan;

  it('takes image as one layer and layers topmost first as given', () => {
    expect(resolveLaunchPlan(plan(), stateDir).layers).toEqual([image]);
    const layers = [layerDir('sha256:top'), layerDir('mid,dle'), layerDir('base')];
    expect(resolveLaunchPlan(layersPlan(layers), stateDir).layers).toEqual(layers);
  });

  it('refuses no layers, too many, both forms, neither, a file and a missing directory', () => {
    expect(problemsOf(layersPlan([])).join()).toMatch(/layers must be an array of 1 to 128/);
    const many = Array.from({ length: MAX_LAYERS + 1 }, (_, i) => layerDir(`many-${i}`));
    expect(problemsOf(layersPlan(many)).join()).toMatch(/layers must be an array of 1 to 128/);
    expect(problemsOf(layersPlan(many.slice(0, MAX_LAYERS)))).toEqual([]);
    expect(problemsOf(layersPlan([layerDir('a')], { image })).join()).toMatch(/not both/);
    expect(problemsOf(layersPlan(undefined)).join()).toMatch(/image or layers is required/);
    writeFileSync(join(image, 'file'), 'x');
    expect(problemsOf(layersPlan([layerDir('a'), join(image, 'file')])).join()).toMatch(/layers\[1\] .* is not a directory/);
    expect(problemsOf(layersPlan(['/no/such/layer'])).join()).toMatch(/layers\[0\] .* does not exist/);
    expect(problemsOf(layersPlan(['relative/layer'])).join()).toMatch(/layers\[0\] must be an absolute path/);
  });

  it('refuses the same directory twice, by any path', () => {
    const a = layerDir('dup');
    symlinkSync(a, join(image, 'dup-link'));
    expect(problemsOf(layersPlan([a, layerDir('other'), a])).join()).toMatch(/layers\[2\] is the same directory as layers\[0\]/);
    expect(problemsOf(layersPlan([a, join(image, 'dup-link')])).join()).toMatch(/layers\[1\] is the same directory as layers\[0\]/);
  });

  it('refuses a shifted copy of more than one layer', () => {
    expect(problemsOf(layersPlan([layerDir('a'), layerDir('b')], { rootfsMode: 'shifted' })).join()).toMatch(/one layer only/);
    expect(problemsOf(layersPlan([layerDir('a')], { rootfsMode: 'shifted' }))).toEqual([]);
  });
});

describe('launch plan network', () => {
  const net = { ip: '10.88.3.17', prefix: 24, gateway: '10.88.3.1', bridge: 'nagaya0' };

  it('is absent unless asked for, and fills in MAC, MTU, host name and both files', () => {
    expect(resolveLaunchPlan(plan(), stateDir).network).toBeUndefined();
    const r = resolveLaunchPlan(plan({ id: 'web', network: { ...net, hosts: ['10.88.3.18 db'] } }), stateDir).network;
    expect(r).toMatchObject({ ip: '10.88.3.17', prefix: 24, mac: '02:42:0a:58:03:11', mtu: 1500, bridge: 'nagaya0' });
    expect(r?.hostIfName).toBe(hostIfNameFor(stateDir, 'web'));
    expect(r?.hostIfName).toMatch(/^nv[0-9a-f]{12}$/);
    expect(hostIfNameFor('/other/state', 'web')).not.toBe(r?.hostIfName); // two runtimes never share a name
    // a prefix of their own keeps two nagayas' ports apart on one host; the name stays 14 characters
    expect(hostIfNameFor(stateDir, 'web')).toMatch(/^nv[0-9a-f]{12}$/);
    expect(hostIfNameFor(stateDir, 'web', 'n7a')).toMatch(/^n7a[0-9a-f]{11}$/);
    expect(() => hostIfNameFor(stateDir, 'web', 'toolongprefix')).toThrow(RangeError);
    expect(r?.resolvConf).toBe('nameserver 10.88.3.1\n');
    expect(r?.hosts).toContain('10.88.3.17\tweb\n10.88.3.18 db\n');
    expect(resolveLaunchPlan(plan({ network: { ...net, nameservers: [] } }), stateDir).network?.resolvConf).toBeUndefined();
  });

  it('refuses addresses, names and lines that would not work or would inject', () => {
    const bad = (network: Record<string, unknown>) => problemsOf(plan({ network: { ...net, ...network } as never }));
    expect(bad({ ip: '10.88.3.300' })).toEqual(expect.arrayContaining([expect.stringMatching(/network\.ip/)]));
    expect(bad({ gateway: '10.88.4.1' })).toEqual(expect.arrayContaining([expect.stringMatching(/gateway must be in the subnet/)]));
    expect(bad({ ip: '10.88.3.1' })).toEqual(expect.arrayContaining([expect.stringMatching(/must not be the gateway/)]));
    expect(bad({ prefix: 31 })).toEqual(expect.arrayContaining([expect.stringMatching(/network\.prefix/)]));
    expect(bad({ bridge: 'a/b' })).toEqual(expect.arrayContaining([expect.stringMatching(/network\.bridge/)]));
    expect(bad({ hostIfName: 'sixteen-chars-xx' })).toEqual(expect.arrayContaining([expect.stringMatching(/hostIfName/)]));
    expect(bad({ hostIfName: 'eth0' })).toEqual(expect.arrayContaining([expect.stringMatching(/hostIfName/)]));
    expect(bad({ mac: '01:00:5e:00:00:01' })).toEqual(expect.arrayContaining([expect.stringMatching(/unicast MAC/)]));
    expect(bad({ mtu: 100 })).toEqual(expect.arrayContaining([expect.stringMatching(/mtu/)]));
    expect(bad({ hosts: ['1.2.3.4 a\n5.6.7.8 b'] })).toEqual(expect.arrayContaining([expect.stringMatching(/hosts\[0\]/)]));
    expect(bad({ nameservers: ['not-an-ip'] })).toEqual(expect.arrayContaining([expect.stringMatching(/nameservers/)]));
    expect(problemsOf(plan({ network: 'bridge' as never }))).toEqual(['network must be an object']);
  });

  it('gives the same MAC for the same address, locally administered and unicast', () => {
    expect(macFromIp('10.88.0.2')).toBe('02:42:0a:58:00:02');
    expect(macFromIp('192.168.255.254')).toBe('02:42:c0:a8:ff:fe');
  });
});
