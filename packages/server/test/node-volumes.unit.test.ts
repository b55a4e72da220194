import { describe, expect, it } from 'vitest';
import { hostPathRefusal, quotaSupportOf, volumeDir } from '../src/jobs/node-volumes';

const line = (mountPoint: string, options: string, fsType: string, superOptions: string) =>
  `36 35 98:0 / ${mountPoint} ${options} shared:1 - ${fsType} /dev/sda1 ${superOptions}`;

describe('quotaSupportOf: whether the filesystem of the data directory keeps project quotas', () => {
  it('finds the mount that holds the path, the deepest and the last of equal ones', () => {
    const info = [
      line('/', 'rw,relatime', 'ext4', 'rw'),
      line('/var/lib/nagaya', 'rw,relatime', 'ext4', 'rw,prjquota'),
      line('/var/lib/nagaya-other', 'rw', 'tmpfs', 'rw'),
    ].join('\n');
    expect(quotaSupportOf(info, '/var/lib/nagaya/data')).toEqual({ ok: true, fsType: 'ext4', mountPoint: '/var/lib/nagaya' });
    expect(quotaSupportOf(info, '/var/lib/nagaya')).toMatchObject({ ok: true });
    expect(quotaSupportOf(info, '/var/lib/nagayax')).toEqual({
      ok: false,
      why: 'the data directory is on / (ext4), which is not mounted with prjquota',
    });
    // mounted over: the last line for a mount point is the one on top
    expect(quotaSupportOf(`${info}\n${line('/var/lib/nagaya', 'rw', 'tmpfs', 'rw')}`, '/var/lib/nagaya/data')).toEqual({
      ok: false,
      why: 'the data directory is on /var/lib/nagaya (tmpfs), which keeps no project quotas (ext4 or xfs with prjquota do)',
    });
  });

  it('takes xfs with prjquota or pquota, and reads escaped mount points', () => {
    expect(quotaSupportOf(line('/srv', 'rw', 'xfs', 'rw,attr2,inode64,pquota'), '/srv/d')).toMatchObject({ ok: true, fsType: 'xfs' });
    expect(quotaSupportOf(line('/my\\040disk', 'rw', 'xfs', 'rw,prjquota'), '/my disk/d')).toMatchObject({
      ok: true,
      mountPoint: '/my disk',
    });
    expect(quotaSupportOf(line('/srv', 'rw', 'btrfs', 'rw'), '/srv/d')).toMatchObject({ ok: false });
  });
});

describe('hostPathRefusal', () => {
  it('refuses /, the kernel filesystems, the data directory, what is in it and what holds it', () => {
    const data = '/var/lib/nagaya';
    for (const path of ['/', '/proc', '/proc/1', '/sys', '/dev/shm', data, `${data}/secrets`, `${data}/volumes/p/x`, '/var/lib', '/var']) {
      expect(hostPathRefusal(path, data), path).toBeDefined();
    }
    for (const path of ['/srv', '/var/lib/nagaya-other', '/home/u', '/devices', '/process']) {
      expect(hostPathRefusal(path, data), path).toBeUndefined();
    }
  });
});

describe('volumeDir', () => {
  it('is <data dir>/volumes/<project>/<id>, and refuses names that could leave it', () => {
    expect(volumeDir('/d', 'alpha', '0b5a4c2e-1d3f-4a5b-8c6d-7e8f9a0b1c2d')).toBe('/d/volumes/alpha/0b5a4c2e-1d3f-4a5b-8c6d-7e8f9a0b1c2d');
    expect(() => volumeDir('/d', '..', '0b5a4c2e-1d3f-4a5b-8c6d-7e8f9a0b1c2d')).toThrow();
    expect(() => volumeDir('/d', 'alpha', '../../etc')).toThrow();
  });
});
