import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH, launchSettings, parseGroup, parsePasswd, resolveUser, runConfigOf } from '../src/images/image-config';

const SLEEP = ['/bin/sh', '-c', 'sleep'];
const nginx = runConfigOf({
  config: {
    Entrypoint: ['/docker-entrypoint.sh'],
    Cmd: ['nginx', '-g', 'daemon off;'],
    Env: ['PATH=/usr/sbin:/usr/bin', 'NGINX_VERSION=1.27', 'BROKEN'],
    WorkingDir: '/srv',
    User: 'nginx',
  },
});
nginx.passwd = parsePasswd('root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101::/nonexistent:/bin/false\n');
nginx.groups = parseGroup('root:x:0:\nnginx:x:101:\nwww-data:x:33:\n');

describe('launchSettings', () => {
  it("runs the image's Entrypoint + Cmd, Env, WorkingDir and User when the create says nothing", () => {
    expect(launchSettings(nginx, {}, SLEEP)).toEqual({
      command: ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;'],
      env: { PATH: '/usr/sbin:/usr/bin', NGINX_VERSION: '1.27' },
      workingDir: '/srv',
      uid: 101,
      gid: 101,
    });
  });

  it('lets each override win: command replaces Cmd only, entrypoint replaces Entrypoint (and Cmd), env merges on top', () => {
    expect(launchSettings(nginx, { command: ['-v'] }, SLEEP).command).toEqual(['/docker-entrypoint.sh', '-v']);
    expect(launchSettings(nginx, { entrypoint: ['/bin/sh'], command: ['-c', 'id'] }, SLEEP).command).toEqual(['/bin/sh', '-c', 'id']);
    expect(launchSettings(nginx, { entrypoint: ['/bin/true'] }, SLEEP).command).toEqual(['/bin/true']);
    const s = launchSettings(nginx, { env: { NGINX_VERSION: 'x', A: '1' }, workingDir: '/tmp', user: '0:33' }, SLEEP);
    expect([s.env, s.workingDir, s.uid, s.gid]).toEqual([{ PATH: '/usr/sbin:/usr/bin', NGINX_VERSION: 'x', A: '1' }, '/tmp', 0, 33]);
    expect(() => launchSettings(nginx, { entrypoint: [] }, SLEEP)).toThrow(/nothing to run/);
  });

  it('keeps the fallback for a directory image, and sets PATH for an OCI image that has none', () => {
    expect(launchSettings(undefined, {}, SLEEP)).toEqual({ command: SLEEP, env: {}, workingDir: '/', uid: 0, gid: 0 });
    expect(() => launchSettings({}, {}, SLEEP)).toThrow(/no Entrypoint or Cmd/);
    expect(launchSettings(undefined, { command: ['x'] }, SLEEP).command).toEqual(['x']);
    expect(launchSettings(runConfigOf({ config: { Cmd: ['sh'] } }), {}, SLEEP).env).toEqual({ PATH: DEFAULT_PATH });
    expect(() => launchSettings(runConfigOf({ config: { Env: ['A=1'] } }), {}, SLEEP)).toThrow(/no Entrypoint or Cmd/);
    expect(() => launchSettings(nginx, { workingDir: 'relative' }, SLEEP)).toThrow(/not absolute/);
  });
});

describe('resolveUser', () => {
  it('reads uid, uid:gid, name and name:group from the image', () => {
    expect(resolveUser('1000', nginx)).toEqual({ uid: 1000, gid: 1000 });
    expect(resolveUser('101', nginx)).toEqual({ uid: 101, gid: 101 });
    expect(resolveUser('nginx:www-data', nginx)).toEqual({ uid: 101, gid: 33 });
    expect(resolveUser('0', undefined)).toEqual({ uid: 0, gid: 0 });
  });

  it('refuses names the image lacks (prototype names too), IDs past the slice, and malformed specs', () => {
    for (const bad of ['nobody', 'constructor', '__proto__', 'nginx:constructor', 'root:nogroup', '70000', '1:70000', '', 'a:b:c', ':1']) {
      expect(() => resolveUser(bad, nginx), bad).toThrow(/user/);
    }
  });
});

describe('parsePasswd, parseGroup', () => {
  it('keep the first entry of a name and skip malformed lines', () => {
    const passwd = parsePasswd('a:x:1:2\na:x:3:4\nbad\nb:x:x:1\n__proto__:x:5:5\n');
    expect(passwd).toEqual({ a: [1, 2] });
    expect(Object.getPrototypeOf(passwd)).toBe(Object.prototype);
    expect(Object.keys(parseGroup('g:x:7:\ng:x:8:\n:x:9:\n'))).toEqual(['g']);
  });
});
