import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MAX_MOUNTS, NativeError, resolveLaunchPlan, type ContainerMount, type ContainerRuntime, type LaunchPlan } from '@nagaya/native';

import { launcherSocketPath } from '../src/launcher-daemon';
import { encodeLaunchRequest } from '../src/launcher-messages';
import { loadAddon, type LauncherConnectionHandle } from '../src/loader';
import { decodeMessage, encodeMessage, type Field } from '../src/protocol';
import { busyboxImage, busyboxPlan, launcherPidOf, leftoverCgroups, openTestRuntime, slice } from './helpers';

// Host ids for this file: 1_760_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_760_000_000;
const EINVAL = 22;

/** The mount entries of a process's mount namespace whose mountpoint is target: [fields, options]. */
function mountinfoLines(pid: number, target: string): string[] {
  return readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter((line) => line.split(' ')[4] === target);
}

describe('host directories mounted into containers', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;
  /** 0700, root's: what a tenant plants in a volume (0:0 on disk, maybe setuid) stays out of host users' reach. */
  let root: string;
  let shared: string;
  /** A layer above busybox with symlinks that point out of the rootfs. */
  let hostileLayer: string;
  /** A host directory the hostile symlinks name, and the layer has too: nothing may ever be created in it. */
  let outside: string;
  /** A host directory the layer lacks: a symlink to it dangles in the rootfs. */
  let hostOnly: string;

  const plan = (id: string, index: number, mounts: ContainerMount[], extra: Partial<LaunchPlan> = {}): LaunchPlan => ({
    id,
    image: busyboxImage(),
    argv: ['sleep', '60'],
    uidMap: slice(BASE, index),
    gidMap: slice(BASE, index),
    mounts,
    ...extra,
  });
  const sh = async (id: string, script: string) => runtime.exec(id, ['sh', '-c', script]);

  let umaskBefore: number;

  beforeAll(async () => {
    // a launcher started under a strict umask (a service's UMask=0077) still makes 0755 mountpoints
    umaskBefore = process.umask(0o077);
    ({ runtime, stateDir, cleanup } = await openTestRuntime('mounts'));
    process.umask(umaskBefore);
    root = mkdtempSync(join(tmpdir(), 'nagaya-mounts-'));
    shared = join(root, 'shared');
    mkdirSync(shared, { mode: 0o755 });
    outside = join(root, 'outside');
    mkdirSync(outside);
    hostOnly = join(root, 'host-only');
    mkdirSync(hostOnly);
    hostileLayer = join(root, 'hostile-layer');
    // the same path as the host's `outside`, inside the image: where the links below must lead
    mkdirSync(join(hostileLayer, outside), { recursive: true });
    symlinkSync('/', join(hostileLayer, 'evil'));
    symlinkSync(`../../../../../../../../..${outside}`, join(hostileLayer, 'up'));
    symlinkSync(outside, join(hostileLayer, 'abs'));
    symlinkSync(hostOnly, join(hostileLayer, 'to-host-only'));
    symlinkSync('/nowhere/at/all', join(hostileLayer, 'dangling'));
    writeFileSync(join(hostileLayer, 'a-file'), 'a file, not a directory\n');
  });
  afterAll(async () => {
    await cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it('shares one idmapped directory between two slices: files are 0:0 on disk and inside both, no chown', async () => {
    const volume: ContainerMount = { source: shared, target: '/data', idmap: true };
    const a = await runtime.launch(plan('vol-a', 0, [volume]));
    const b = await runtime.launch(plan('vol-b', 1, [volume]));
    // exec sessions join the container's mount namespace: they see the mount
    expect(await sh('vol-a', 'echo from-a > /data/a && id -u')).toMatchObject({ exitCode: 0, stdout: '0\n' });
    expect(await sh('vol-b', 'echo from-b > /data/b && mkdir /data/dir-b')).toMatchObject({ exitCode: 0 });
    // the writers' host uids are their slices' bases; the files carry the container-relative owner
    expect(statSync(`/proc/${a.pid}`).uid).toBe(BASE);
    expect(statSync(`/proc/${b.pid}`).uid).toBe(BASE + 65536);
    for (const name of ['a', 'b', 'dir-b']) {
      const st = statSync(join(shared, name));
      expect([name, st.uid, st.gid]).toEqual([name, 0, 0]);
    }
    for (const id of ['vol-a', 'vol-b']) {
      const listing = await sh(id, 'stat -c "%u:%g %n" /data/a /data/b /data/dir-b && cat /data/a /data/b');
      expect(listing.exitCode).toBe(0);
      expect(listing.stdout).toBe('0:0 /data/a\n0:0 /data/b\n0:0 /data/dir-b\nfrom-a\nfrom-b\n');
    }
    // the kernel shows the mount idmapped, nosuid and nodev, in the container's own mount namespace only
    const [entry, ...more] = mountinfoLines(a.pid, '/data');
    expect(more).toEqual([]);
    expect(entry.split(' ')[5].split(',')).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', 'idmapped']));
    expect(mountinfoLines(process.pid, '/data')).toEqual([]);
    await runtime.stop('vol-a', 0);
    await runtime.stop('vol-b', 0);
  });

  it('keeps owners other than root container-relative too: a non-root user writes as itself', async () => {
    const home = join(shared, 'home-1000');
    mkdirSync(home);
    chownSync(home, 1000, 1000);
    const c = await runtime.launch(
      plan('vol-user', 15, [{ source: shared, target: '/data', idmap: true }], { user: { uid: 1000, gid: 1000 } }),
    );
    expect(statSync(`/proc/${c.pid}`).uid).toBe(BASE + 15 * 65536 + 1000);
    const write = await runtime.exec(
      'vol-user',
      ['sh', '-c', 'echo mine > /data/home-1000/f && stat -c "%u:%g" /data/home-1000/f; echo x > /data/root-only'],
      {
        user: { uid: 1000, gid: 1000 },
      },
    );
    expect(write.stdout).toBe('1000:1000\n');
    expect(write.stderr).toMatch(/Permission denied/); // 0:0 0755 on disk is root's inside too
    expect(statSync(join(home, 'f'))).toMatchObject({ uid: 1000, gid: 1000 });
    expect(existsSync(join(shared, 'root-only'))).toBe(false);
    await runtime.stop('vol-user', 0);
  });

  it('mounts read-only when asked: the container cannot write (EROFS)', async () => {
    const c = await runtime.launch(plan('vol-ro', 2, [{ source: shared, target: '/data', idmap: true, readOnly: true }]));
    const write = await sh('vol-ro', 'cat /data/a; echo x > /data/c');
    expect(write.exitCode).not.toBe(0);
    expect(write.stdout).toBe('from-a\n');
    expect(write.stderr).toMatch(/Read-only file system/);
    expect(existsSync(join(shared, 'c'))).toBe(false);
    expect(mountinfoLines(c.pid, '/data')[0].split(' ')[5].split(',')).toEqual(expect.arrayContaining(['ro', 'idmapped']));
    await runtime.stop('vol-ro', 0);
  });

  it('bind-mounts without idmap: host-owned files show as nobody and stay out of the container root’s reach', async () => {
    const c = await runtime.launch(plan('vol-plain', 3, [{ source: shared, target: '/plain', idmap: false }]));
    const seen = await sh('vol-plain', 'stat -c "%u:%g" /plain/a; echo x > /plain/new');
    expect(seen.stdout).toBe('65534:65534\n');
    expect(seen.exitCode).not.toBe(0);
    expect(existsSync(join(shared, 'new'))).toBe(false);
    expect(mountinfoLines(c.pid, '/plain')[0].split(' ')[5]).not.toContain('idmapped');
    await runtime.stop('vol-plain', 0);
  });

  it('clones the source alone and privately: no mount beneath it comes along, none made later shows', async () => {
    // a shared tmpfs as the source (as "/" is on systemd hosts), with a mount beneath it
    const source = join(root, 'shared-mount');
    mkdirSync(source);
    const mounted: string[] = [];
    const mount = (...args: string[]) => {
      execFileSync('mount', args);
      mounted.unshift(args.at(-1)!);
    };
    try {
      mount('-t', 'tmpfs', '-o', 'size=1m', 'vol-source', source);
      execFileSync('mount', ['--make-shared', source]);
      mkdirSync(join(source, 'sub'));
      writeFileSync(join(source, 'sub', 'beneath'), 'under the submount\n');
      mount('-t', 'tmpfs', '-o', 'size=1m', 'vol-sub', join(source, 'sub'));
      writeFileSync(join(source, 'sub', 'in-submount'), 'host submount\n');
      const c = await runtime.launch(plan('vol-private', 16, [{ source, target: '/data', idmap: true }]));
      mkdirSync(join(source, 'late'));
      mount('-t', 'tmpfs', '-o', 'size=1m', 'vol-late', join(source, 'late'));
      writeFileSync(join(source, 'late', 'after-launch'), 'host mount after the launch\n');
      const seen = await sh('vol-private', 'ls /data/sub /data/late');
      expect(seen).toMatchObject({ exitCode: 0, stdout: '/data/late:\n\n/data/sub:\nbeneath\n' });
      const entry = mountinfoLines(c.pid, '/data')[0].split(' ');
      expect(entry.slice(6, entry.indexOf('-'))).toEqual([]); // no "shared:N" or "master:N"
      expect(readFileSync(`/proc/${c.pid}/mountinfo`, 'utf8')).not.toMatch(/vol-(sub|late)/);
      await runtime.stop('vol-private', 0);
    } finally {
      for (const target of mounted) execFileSync('umount', ['-l', target]);
    }
  });

  it('mounts nested targets parent first, whatever their order in the plan', async () => {
    const inner = join(root, 'inner');
    mkdirSync(inner);
    writeFileSync(join(inner, 'marker'), 'inner\n');
    const outer = join(root, 'outer');
    mkdirSync(outer);
    await runtime.launch(
      plan('vol-nested', 4, [
        { source: inner, target: '/srv/outer/inner', idmap: true },
        { source: outer, target: '/srv/outer', idmap: true },
      ]),
    );
    expect(await sh('vol-nested', 'cat /srv/outer/inner/marker')).toMatchObject({ exitCode: 0, stdout: 'inner\n' });
    // the child's mountpoint was made in the parent mount, as the container's root: 0:0 on disk
    expect(lstatSync(join(outer, 'inner')).isDirectory()).toBe(true);
    expect(statSync(join(outer, 'inner'))).toMatchObject({ uid: 0, gid: 0 });
    // 0755 whatever the launcher's umask: a non-root user of the container reaches a volume below it
    expect(statSync(join(outer, 'inner')).mode & 0o7777).toBe(0o755);
    await runtime.stop('vol-nested', 0);
  });

  it('follows a symlink of the image on the way to a target inside the rootfs, never onto the host', async () => {
    writeFileSync(join(shared, 'hostile-marker'), 'volume\n');
    const c = await runtime.launch({
      ...plan('vol-hostile', 5, [
        { source: shared, target: '/evil/etc/vol', idmap: true },
        { source: shared, target: '/up/rel', idmap: true },
        { source: shared, target: '/abs/absolute', idmap: true },
      ]),
      image: undefined,
      layers: [hostileLayer, busyboxImage()],
    });
    // "/evil -> /" is the rootfs's root: the mount is at the container's /etc/vol
    expect(await sh('vol-hostile', 'cat /etc/vol/hostile-marker')).toMatchObject({ exitCode: 0, stdout: 'volume\n' });
    expect(existsSync('/etc/vol')).toBe(false);
    // "../../.." stops at the rootfs's root, and an absolute link starts there: both end beneath it
    for (const name of ['rel', 'absolute']) {
      expect(await sh('vol-hostile', `cat ${outside}/${name}/hostile-marker`)).toMatchObject({ exitCode: 0, stdout: 'volume\n' });
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(mountinfoLines(process.pid, '/etc/vol')).toEqual([]);
    expect(mountinfoLines(c.pid, '/etc/vol')).toHaveLength(1);
    await runtime.stop('vol-hostile', 0);
  });

  it('follows a symlink the container left in its writable layer only within the rootfs', async () => {
    const planting = `mkdir -p ${outside} && ln -s ${outside} /planted && ln -s / /root-link`;
    const first = plan('vol-upper', 6, [], { argv: ['sh', '-c', planting] });
    await runtime.launch(first);
    expect(await runtime.wait('vol-upper')).toMatchObject({ exitCode: 0 });
    await runtime.launch({
      ...first,
      argv: ['sleep', '60'],
      mounts: [
        { source: shared, target: '/planted/x', idmap: true },
        { source: shared, target: '/root-link/y', idmap: true },
      ],
    });
    expect(await sh('vol-upper', `cat ${outside}/x/hostile-marker /y/hostile-marker`)).toMatchObject({
      exitCode: 0,
      stdout: 'volume\nvolume\n',
    });
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync('/y')).toBe(false);
    await runtime.stop('vol-upper', 0);
  });

  /** Launches a plan that must fail at step mount-volume and checks that nothing of it is left. */
  async function refusedMount(p: LaunchPlan): Promise<NativeError> {
    const err = await runtime.launch(p).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NativeError);
    const e = err as NativeError;
    expect(e.step).toBe('mount-volume');
    expect(leftoverCgroups(launcherPidOf(stateDir), p.id)).toEqual([]);
    expect(existsSync(join(stateDir, 'containers', p.id))).toBe(false);
    expect((await runtime.running()).map((c) => c.id)).not.toContain(p.id);
    return e;
  }

  it('refuses a target through a symlink that dangles in the rootfs, naming the mount, and leaves nothing behind', async () => {
    for (const [target, index] of [
      ['/dangling/x', 7],
      ['/to-host-only/x', 12], // the host has the directory: no matter
    ] as const) {
      const e = await refusedMount({
        ...plan(`vol-dangling-${index}`, index, [{ source: shared, target, idmap: true }]),
        image: undefined,
        layers: [hostileLayer, busyboxImage()],
      });
      expect(e).toMatchObject({ code: 'ENOENT', syscall: 'openat2', details: { source: shared, target } });
      expect(e.message).toBe(`cannot mount ${shared} at ${target}: openat2: no such directory`);
    }
    expect(existsSync('/nowhere')).toBe(false);
    expect(readdirSync(hostOnly)).toEqual([]);
  });

  it('with an init, a volume over /sbin is refused at mount-init, and the init is never written into the volume', async () => {
    const volume = join(root, 'sbin-volume');
    mkdirSync(volume);
    const err = await runtime.launch(plan('vol-init-sbin', 17, [{ source: volume, target: '/sbin', idmap: true }], { init: true })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ step: 'mount-init', code: 'EXDEV' });
    expect(readdirSync(volume)).toEqual([]);
    // elsewhere, the init and a volume get along
    await runtime.launch(plan('vol-init', 17, [{ source: volume, target: '/srv', idmap: true }], { init: true }));
    expect(await sh('vol-init', 'touch /srv/x && cat /proc/1/cmdline | tr "\\0" " "')).toMatchObject({
      exitCode: 0,
      stdout: '/sbin/nagaya-init -- sleep 60 ',
    });
    await runtime.stop('vol-init', 0);
    expect(readdirSync(volume)).toEqual(['x']);
  });

  it('refuses a target that is a file of the image', async () => {
    const e = await refusedMount({
      ...plan('vol-file-target', 13, [{ source: shared, target: '/a-file', idmap: true }]),
      image: undefined,
      layers: [hostileLayer, busyboxImage()],
    });
    expect(e).toMatchObject({ code: 'ENOTDIR', syscall: 'openat2' });
  });

  it('refuses an idmap on a filesystem that cannot take one, saying so', async () => {
    const e = await refusedMount(plan('vol-procfs', 14, [{ source: '/proc', target: '/hostproc', idmap: true }]));
    expect(e).toMatchObject({ code: 'EINVAL', syscall: 'mount_setattr' });
    expect(e.message).toBe("cannot mount /proc at /hostproc: mount_setattr: EINVAL (the source's filesystem cannot be idmapped)");
  });

  it('refuses a source that is not a directory, or is a symlink', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'not a directory\n');
    const link = join(root, 'a-link');
    symlinkSync(shared, link);
    const notDir = await refusedMount(plan('vol-notdir-8', 8, [{ source: file, target: '/data', idmap: true }]));
    expect(notDir).toMatchObject({ code: 'ENOTDIR', syscall: 'open', details: { source: file, target: '/data' } });
    expect(notDir.message).toBe(`cannot mount ${file} at /data: open: not a directory`);
    // a symlink anywhere on the source's path is refused, never followed (ELOOP)
    const swapped = join(root, 'swapped-parent');
    symlinkSync(root, swapped);
    for (const [source, index] of [
      [link, 9],
      [join(swapped, 'shared'), 41],
    ] as const) {
      const e = await refusedMount(plan(`vol-link-${index}`, index, [{ source, target: '/data', idmap: true }]));
      expect(e).toMatchObject({ code: 'ELOOP', syscall: 'open', details: { source, target: '/data' } });
    }
    const missing = await refusedMount(plan('vol-missing', 10, [{ source: join(root, 'missing'), target: '/data', idmap: false }]));
    expect(missing.code).toBe('ENOENT');
  });

  it('refuses relative, ".." and reserved targets before anything is made', async () => {
    for (const target of ['data', '/data/../etc', '/', '/proc/x', '/data/']) {
      const err = await runtime.launch(plan('vol-bad-target', 11, [{ source: shared, target, idmap: true }])).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'INVALID_PLAN' });
    }
    expect(existsSync(join(stateDir, 'containers', 'vol-bad-target'))).toBe(false);
  });
});

describe('mount fields of a launch request, as the launcher checks them again', () => {
  let stateDir: string;
  let cleanup: () => Promise<void>;
  let conn: LauncherConnectionHandle;
  const replies = new Map<string, (fields: Record<string, string | undefined>) => void>();
  let nextReq = 1;

  beforeAll(async () => {
    // the runtime starts the launcher; this connection talks to it as a client would
    ({ stateDir, cleanup } = await openTestRuntime('mount-fields'));
    conn = new (loadAddon().LauncherConnection)(launcherSocketPath(stateDir), (msg) => {
      if (msg === null) return;
      const m = decodeMessage(msg);
      const req = m.get('req');
      if (req === undefined) return; // exit events
      replies.get(req)?.({ type: m.get('type'), step: m.get('step'), syscall: m.get('syscall'), errno: m.get('errno') });
      replies.delete(req);
    });
  });
  afterAll(async () => {
    conn?.close();
    await cleanup();
  });

  /** Sends a launch request of a good plan with its mount fields replaced; resolves with the reply. */
  function launchWith(mountFields: Field[]): Promise<Record<string, string | undefined>> {
    const req = `raw-${nextReq++}`;
    const resolved = resolveLaunchPlan(busyboxPlan('raw-mounts', ['true'], slice(BASE, 20)), stateDir);
    return new Promise((resolve) => {
      replies.set(req, resolve);
      conn.send(Buffer.concat([encodeLaunchRequest(req, resolved), encodeMessage(mountFields)]));
    });
  }

  it('refuses unmatched lists, bad flags, relative paths, "/" and more than MAX_MOUNTS, before anything is created', async () => {
    const refused = (field: string) => ({ type: 'error', step: 'parse-request', syscall: field, errno: String(EINVAL) });
    const one = (source: string, target: string, flags: string | number): Field[] => [
      ['mount_source', source],
      ['mount_target', target],
      ['mount_flags', flags],
    ];
    expect(
      await launchWith([
        ['mount_source', '/srv'],
        ['mount_target', '/data'],
      ]),
    ).toEqual(refused('mount_source'));
    expect(await launchWith(one('/srv', '/data', 4))).toEqual(refused('mount_flags'));
    expect(await launchWith(one('/srv', '/data', 'rw'))).toEqual(refused('mount_flags'));
    expect(await launchWith(one('srv', '/data', 2))).toEqual(refused('mount_source'));
    expect(await launchWith(one('/srv', 'data', 2))).toEqual(refused('mount_target'));
    expect(await launchWith(one('/srv', '/', 2))).toEqual(refused('mount_target'));
    expect(await launchWith(one('/srv', `/${'x'.repeat(4096)}`, 2))).toEqual(refused('mount_target'));
    const many = Array.from({ length: MAX_MOUNTS + 1 }, (_, i) => one('/srv', `/m${i}`, 2)).flat();
    expect(await launchWith(many)).toEqual(refused('mount_source'));
    expect(existsSync(join(stateDir, 'containers', 'raw-mounts'))).toBe(false);
  });
});
