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

  it('takes another node subnet size from NAGAYA_NETWORK_NODE_PREFIX, /16 to /28, no larger than the fleet network', () => {
    const base = { NAGAYA_NODE_NAME: 'n1', DATABASE_URL: 'postgres://x', REDIS_URL: 'redis://x' };
    expect(loadConfig({ ...base, NAGAYA_NETWORK_NODE_PREFIX: '21' }).networkNodePrefix).toBe(21);
    expect(loadConfig({ ...base, NAGAYA_NETWORK_CIDR: '10.9.0.0/26', NAGAYA_NETWORK_NODE_PREFIX: '28' }).networkCidr).toBe('10.9.0.0/26');
    for (const bad of ['15', '29', 'x'])
      expect(() => loadConfig({ ...base, NAGAYA_NETWORK_NODE_PREFIX: bad }), bad).toThrow(/NAGAYA_NETWORK_NODE_PREFIX/);
    expect(() => loadConfig({ ...base, NAGAYA_NETWORK_CIDR: '10.9.0.0/24', NAGAYA_NETWORK_NODE_PREFIX: '22' })).toThrow(/a \/22 per node/);
  });

  it('refuses what is not an IPv4 network of at least one /24', () => {
    for (const bad of ['10.88.0.0', '10.88.0.1/16', '10.88.0.0/25', '10.0.0.0/7', '300.1.0.0/16', '010.88.0.0/16', 'fd00::/64', 'x']) {
      expect(() => load(bad), bad).toThrow(/NAGAYA_NETWORK_CIDR must be an IPv4 network/);
    }
  });
});

describe('NAGAYA_HOST_NETWORK, NAGAYA_BRIDGE, NAGAYA_NFT_TABLE', () => {
  const load = (env: Record<string, string>) =>
    loadConfig({ NAGAYA_NODE_NAME: 'n1', DATABASE_URL: 'postgres://x', REDIS_URL: 'redis://x', ...env });

  it('defaults to host networking on bridge nagaya0 with tables named nagaya', () => {
    expect(load({})).toMatchObject({ hostNetwork: true, ipForward: true, bridge: 'nagaya0', nftTable: 'nagaya', vethPrefix: 'nv' });
    expect(load({ NAGAYA_VETH_PREFIX: 'q7z' }).vethPrefix).toBe('q7z');
    expect(load({}).defaultNetworkMode).toBe('bridge');
    expect(load({ NAGAYA_DEFAULT_NETWORK_MODE: 'none' }).defaultNetworkMode).toBe('none');
    expect(load({ NAGAYA_HOST_NETWORK: 'off', NAGAYA_BRIDGE: 'br-x.1', NAGAYA_NFT_TABLE: 'ng_t1' })).toMatchObject({
      hostNetwork: false,
      bridge: 'br-x.1',
      nftTable: 'ng_t1',
    });
  });

  it('refuses a bad switch, an interface name the kernel refuses and a table name nft refuses', () => {
    expect(() => load({ NAGAYA_HOST_NETWORK: 'maybe' })).toThrow(/NAGAYA_HOST_NETWORK must be on or off/);
    expect(() => load({ NAGAYA_DEFAULT_NETWORK_MODE: 'host' })).toThrow(/NAGAYA_DEFAULT_NETWORK_MODE must be one of bridge, none/);
    for (const bad of ['a-bridge-name-too-long', 'br 0', 'br/0']) expect(() => load({ NAGAYA_BRIDGE: bad }), bad).toThrow(/NAGAYA_BRIDGE/);
    for (const bad of ['1table', 'ta-ble', 'x'.repeat(33)]) expect(() => load({ NAGAYA_NFT_TABLE: bad }), bad).toThrow(/NAGAYA_NFT_TABLE/);
    // hex digits follow it, 14 characters in all
    for (const bad of ['n', 'nvxxxxx', '1v', 'n-']) expect(() => load({ NAGAYA_VETH_PREFIX: bad }), bad).toThrow(/NAGAYA_VETH_PREFIX/);
  });
});

describe('gatewayOf', () => {
  it('is the first host address of the subnet', () => {
    expect(gatewayOf('10.88.0.0/24')).toBe('10.88.0.1');
    expect(gatewayOf('10.88.255.0/24')).toBe('10.88.255.1');
    expect(gatewayOf('192.168.7.0/24')).toBe('192.168.7.1');
  });
});

describe('NAGAYA_DNS_UPSTREAM', () => {
  const load = (env: Record<string, string>) =>
    loadConfig({ NAGAYA_NODE_NAME: 'n1', DATABASE_URL: 'postgres://x', REDIS_URL: 'redis://x', ...env });

  it('forwards nothing by default, and takes IPv4 servers separated by commas', () => {
    expect(load({}).dnsUpstream).toEqual([]);
    expect(load({ NAGAYA_DNS_UPSTREAM: '' }).dnsUpstream).toEqual([]);
    expect(load({ NAGAYA_DNS_UPSTREAM: '192.0.2.53, 198.51.100.53' }).dnsUpstream).toEqual(['192.0.2.53', '198.51.100.53']);
  });

  it('refuses what is not an IPv4 address', () => {
    for (const bad of ['dns.example', '192.0.2.300', '2001:db8::53', '192.0.2.53#5353']) {
      expect(() => load({ NAGAYA_DNS_UPSTREAM: bad }), bad).toThrow(/NAGAYA_DNS_UPSTREAM must be IPv4 addresses/);
    }
  });
});
