import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { gatewayOf } from '../src/store/network-store';

// NAGAYA_NETWORK_CIDR is checked once at start: a bad value stops the start with a clear message.

describe('NAGAYA_NETWORK_CIDR', () => {
  const load = (cidr?: string) =>
    loadConfig({
      NAGAYA_NODE_NAME: 'n1',
      DATABASE_URL: 'postgres://x',
      REDIS_URL: 'redis://x',
      ...(cidr === undefined ? {} : { NAGAYA_NETWORK_CIDR: cidr }),
    });

  it('defaults to 10.88.0.0/16 with a /24 per node', () => {
    expect(load()).toMatchObject({ networkCidr: '10.88.0.0/16', networkNodePrefix: 24 });
    expect(load('172.30.0.0/20').networkCidr).toBe('172.30.0.0/20');
    expect(load('10.0.0.0/8').networkCidr).toBe('10.0.0.0/8');
    expect(load('192.168.7.0/24').networkCidr).toBe('192.168.7.0/24');
  });

  it('refuses what is not an IPv4 network of at least one /24', () => {
    for (const bad of ['10.88.0.0', '10.88.0.1/16', '10.88.0.0/25', '10.0.0.0/7', '300.1.0.0/16', '010.88.0.0/16', 'fd00::/64', 'x']) {
      expect(() => load(bad), bad).toThrow(/NAGAYA_NETWORK_CIDR must be an IPv4 network/);
    }
  });
});

describe('gatewayOf', () => {
  it('is the first host address of the subnet', () => {
    expect(gatewayOf('10.88.0.0/24')).toBe('10.88.0.1');
    expect(gatewayOf('10.88.255.0/24')).toBe('10.88.255.1');
    expect(gatewayOf('192.168.7.0/24')).toBe('192.168.7.1');
  });
});
