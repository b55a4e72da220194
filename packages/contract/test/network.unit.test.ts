import { describe, expect, it } from 'vitest';
import { isIpv4, macOf, publishesOverlap } from '../src/network';
import { createContainerSchema } from '../src/schemas';

describe('macOf', () => {
  it('is 02:42 and the four octets in two hex digits each', () => {
    expect(macOf('10.88.0.2')).toBe('02:42:0a:58:00:02');
    expect(macOf('172.17.0.2')).toBe('02:42:ac:11:00:02'); // what Docker gives that address
    expect(macOf('0.0.0.0')).toBe('02:42:00:00:00:00');
    expect(macOf('255.255.255.255')).toBe('02:42:ff:ff:ff:ff');
  });

  it('is locally administered and unicast, and differs for every address of a subnet', () => {
    const macs = new Set<string>();
    for (let i = 2; i <= 254; i++) {
      const mac = macOf(`10.88.7.${i}`);
      const first = Number.parseInt(mac.slice(0, 2), 16);
      expect(first & 0b10).toBe(0b10);
      expect(first & 0b1).toBe(0);
      macs.add(mac);
    }
    expect(macs.size).toBe(253);
  });

  it('refuses what is not a dotted-quad IPv4 address', () => {
    for (const bad of ['', '10.88.0', '10.88.0.256', '010.88.0.1', '::1', '10.88.0.1/24', ' 10.88.0.1']) {
      expect(isIpv4(bad), bad).toBe(false);
      expect(() => macOf(bad)).toThrow(/not an IPv4 address/);
    }
  });
});

describe('publishesOverlap', () => {
  const p = (hostPort: number, protocol: string, hostIp?: string) => ({ hostPort, protocol, ...(hostIp ? { hostIp } : {}) });
  it('treats 0.0.0.0 (and no hostIp) as every address', () => {
    expect(publishesOverlap(p(80, 'tcp'), p(80, 'tcp', '127.0.0.1'))).toBe(true);
    expect(publishesOverlap(p(80, 'tcp', '0.0.0.0'), p(80, 'tcp', '10.0.0.1'))).toBe(true);
    expect(publishesOverlap(p(80, 'tcp', '10.0.0.2'), p(80, 'tcp', '10.0.0.1'))).toBe(false);
    expect(publishesOverlap(p(80, 'tcp'), p(80, 'udp'))).toBe(false);
    expect(publishesOverlap(p(80, 'tcp'), p(81, 'tcp'))).toBe(false);
  });
});

describe('the network of a create request', () => {
  const base = { name: 'web', image: 'busybox' };
  const parse = (network: unknown) => createContainerSchema.safeParse({ ...base, network });
  const publish = (over: Record<string, unknown> = {}) => ({ hostPort: 8080, containerPort: 80, protocol: 'tcp', ...over });

  it('is optional, and accepts bridge with publishes and none without', () => {
    expect(createContainerSchema.safeParse(base).success).toBe(true);
    expect(parse({ mode: 'none' }).success).toBe(true);
    expect(parse({ mode: 'bridge' }).success).toBe(true);
    expect(parse({ mode: 'bridge', publish: [publish(), publish({ hostPort: 8443, hostIp: '127.0.0.1', protocol: 'udp' })] }).success).toBe(
      true,
    );
    expect(parse({ mode: 'bridge', publish: [publish({ hostPort: 1 }), publish({ hostPort: 65535, containerPort: 65535 })] }).success).toBe(
      true,
    );
  });

  it('refuses bad modes, ports, protocols, addresses, unknown fields, too many and duplicate publishes', () => {
    const bad: Array<[string, unknown]> = [
      ['mode', { mode: 'host' }],
      ['no mode', { publish: [] }],
      ['unknown field', { mode: 'bridge', mtu: 1500 }],
      ['publish in mode none', { mode: 'none', publish: [publish()] }],
      ['port 0', { mode: 'bridge', publish: [publish({ hostPort: 0 })] }],
      ['port 65536', { mode: 'bridge', publish: [publish({ containerPort: 65536 })] }],
      ['fractional port', { mode: 'bridge', publish: [publish({ hostPort: 80.5 })] }],
      ['protocol', { mode: 'bridge', publish: [publish({ protocol: 'sctp' })] }],
      ['IPv6', { mode: 'bridge', publish: [publish({ hostIp: '::1' })] }],
      ['hostname', { mode: 'bridge', publish: [publish({ hostIp: 'localhost' })] }],
      ['unknown publish field', { mode: 'bridge', publish: [publish({ nat: true })] }],
      ['65 publishes', { mode: 'bridge', publish: Array.from({ length: 65 }, (_, i) => publish({ hostPort: 1000 + i })) }],
      ['the same port twice', { mode: 'bridge', publish: [publish(), publish({ containerPort: 81 })] }],
      ['0.0.0.0 and a specific address', { mode: 'bridge', publish: [publish({ hostIp: '10.0.0.1' }), publish({ hostIp: '0.0.0.0' })] }],
    ];
    for (const [what, network] of bad) expect(parse(network).success, what).toBe(false);
    expect(parse({ mode: 'bridge', publish: Array.from({ length: 64 }, (_, i) => publish({ hostPort: 1000 + i })) }).success).toBe(true);
  });
});
