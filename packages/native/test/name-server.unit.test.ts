import { describe, expect, it } from 'vitest';
import { nameServerArgs, nameServerPaths } from '../src/name-server';

// The name server's command line is how a new worker recognises the one it may keep: it must
// read no host configuration, listen on the bridge only, and forward nothing unless told.

describe('nameServerArgs', () => {
  const paths = nameServerPaths('nagaya0', '/run/test-dns');
  const base = { bridge: 'nagaya0', gateway: '10.88.3.1', domain: 'nagaya.internal' };

  it('keeps its files under the run directory, named by the bridge', () => {
    expect(paths).toEqual({
      dir: '/run/test-dns/nagaya0',
      pidFile: '/run/test-dns/nagaya0/dnsmasq.pid',
      hostsDir: '/run/test-dns/nagaya0/hosts',
      hostsFile: '/run/test-dns/nagaya0/hosts/containers',
    });
    expect(() => nameServerPaths('..', '/run/test-dns')).toThrow(/interface name/);
    expect(() => nameServerPaths('a/b', '/run/test-dns')).toThrow(/interface name/);
  });

  it('reads no host configuration, listens on the bridge alone and forwards nothing by default', () => {
    const args = nameServerArgs(base, paths, 'dnsmasq');
    expect(args).toEqual(
      expect.arrayContaining([
        '--conf-file=/dev/null',
        '--no-hosts',
        '--no-resolv',
        '--bind-interfaces',
        '--interface=nagaya0',
        '--except-interface=lo',
        '--listen-address=10.88.3.1',
        '--hostsdir=/run/test-dns/nagaya0/hosts',
        '--pid-file=/run/test-dns/nagaya0/dnsmasq.pid',
        '--local=/nagaya.internal/',
        '--user=dnsmasq',
      ]),
    );
    expect(args.some((a) => a.startsWith('--server'))).toBe(false);
  });

  it('forwards to the upstream servers given, and refuses what is not an address or a name', () => {
    expect(nameServerArgs({ ...base, upstream: ['192.0.2.53'] }, paths, 'nobody')).toContain('--server=192.0.2.53');
    expect(() => nameServerArgs({ ...base, upstream: ['dns.example'] }, paths, 'nobody')).toThrow(/IPv4/);
    expect(() => nameServerArgs({ ...base, gateway: 'x' }, paths, 'nobody')).toThrow(/gateway/);
    expect(() => nameServerArgs({ ...base, domain: 'a b' }, paths, 'nobody')).toThrow(/domain/);
    expect(() => nameServerArgs(base, paths, 'root --conf-file=/etc/x')).toThrow(/user/);
  });
});
