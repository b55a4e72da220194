import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';

/** A container's eth0 on a host bridge (root mode); without it a container has only its loopback. */
export interface ContainerNetwork {
  /** The container's IPv4 address, e.g. 10.88.3.17. */
  ip: string;
  /** Prefix length of the bridge's subnet (1-30), e.g. 24. */
  prefix: number;
  /** The bridge's address: the default route, and the nameserver unless `nameservers` says otherwise. */
  gateway: string;
  /** The host bridge the host end joins; it must exist (see ensureBridge). */
  bridge: string;
  /** eth0's MAC; defaults to macFromIp(ip) (02:42 and the four bytes of the address). */
  mac?: string;
  /** MTU of both ends; defaults to 1500 (pass the bridge's). */
  mtu?: number;
  /** Name of the host end (at most 15 bytes); defaults to hostIfNameFor(stateDir, id). */
  hostIfName?: string;
  /** /etc/hosts lines after the defaults (localhost and the container's own name), e.g. "10.88.3.18 db". */
  hosts?: string[];
  /** /etc/resolv.conf nameservers; defaults to [gateway]. An empty list writes no resolv.conf. */
  nameservers?: string[];
  /** /etc/resolv.conf search domains. */
  search?: string[];
}

/** A network with every default filled in and the two files' text worked out. */
export interface ResolvedNetwork {
  ip: string;
  prefix: number;
  gateway: string;
  bridge: string;
  mac: string;
  mtu: number;
  hostIfName: string;
  resolvConf: string | undefined;
  hosts: string;
}

const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const DNS_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i;

/** The MAC a container's eth0 gets by default: locally administered 02:42 and the address's four bytes. */
export function macFromIp(ip: string): string {
  const bytes = ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'));
  return ['02', '42', ...bytes].join(':');
}

/**
 * The host end's name: a prefix (default "nv") and hex digits of a hash of the state directory
 * and id, 14 characters in all (IFNAMSIZ leaves 15). The prefix says whose port it is: nagaya's
 * tables guard the ports of their own prefix only, so two nagaya nodes (or tests) on one host,
 * each with its own prefix, never drop each other's traffic.
 */
export function hostIfNameFor(stateDir: string, id: string, prefix = 'nv'): string {
  if (!/^[a-zA-Z0-9_.-]{1,6}$/.test(prefix)) throw new RangeError('a veth prefix is 1 to 6 of [A-Za-z0-9_.-]');
  return `${prefix}${createHash('sha256')
    .update(`${stateDir}\0${id}`)
    .digest('hex')
    .slice(0, 14 - prefix.length)}`;
}

/** An IPv4 address as an unsigned 32-bit number. */
export function ipv4ToNumber(ip: string): number {
  return ip.split('.').reduce((n, b) => n * 256 + Number(b), 0);
}

function sameSubnet(a: string, b: string, prefix: number): boolean {
  const shift = 32 - prefix;
  return Math.floor(ipv4ToNumber(a) / 2 ** shift) === Math.floor(ipv4ToNumber(b) / 2 ** shift);
}

function lineProblem(what: string, line: unknown): string | undefined {
  if (typeof line !== 'string' || /[\0\n\r]/.test(line) || line.length > 1024) return `${what} must be one line of text`;
  return undefined;
}

/** Validates a plan's network and fills in its defaults; problems are pushed, undefined returned if any. */
export function resolveNetwork(
  network: ContainerNetwork | undefined,
  ids: { stateDir: string; id: string; hostname: string },
  problems: string[],
): ResolvedNetwork | undefined {
  if (network === undefined) return undefined;
  if (typeof network !== 'object' || network === null || Array.isArray(network)) {
    problems.push('network must be an object');
    return undefined;
  }
  const before = problems.length;
  const { ip, prefix, gateway, bridge } = network;
  if (!isIPv4(ip)) problems.push('network.ip must be an IPv4 address');
  if (!isIPv4(gateway)) problems.push('network.gateway must be an IPv4 address');
  if (!Number.isSafeInteger(prefix) || prefix < 1 || prefix > 30) problems.push('network.prefix must be an integer from 1 to 30');
  if (problems.length === before) {
    if (!sameSubnet(ip, gateway, prefix)) problems.push('network.gateway must be in the subnet of network.ip');
    if (ip === gateway) problems.push('network.ip must not be the gateway');
  }
  if (typeof bridge !== 'string' || !IFNAME.test(bridge))
    problems.push('network.bridge must be an interface name (1-15 of [A-Za-z0-9_.-])');
  const mac = network.mac ?? (isIPv4(ip) ? macFromIp(ip) : '');
  if (typeof mac !== 'string' || !MAC.test(mac) || (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    problems.push('network.mac must be a unicast MAC address (aa:bb:cc:dd:ee:ff)');
  }
  const mtu = network.mtu ?? 1500;
  if (!Number.isSafeInteger(mtu) || mtu < 576 || mtu > 65535) problems.push('network.mtu must be an integer from 576 to 65535');
  const hostIfName = network.hostIfName ?? hostIfNameFor(ids.stateDir, ids.id);
  if (typeof hostIfName !== 'string' || !IFNAME.test(hostIfName) || hostIfName === 'eth0') {
    problems.push('network.hostIfName must be an interface name (1-15 of [A-Za-z0-9_.-])');
  }
  const hosts = network.hosts ?? [];
  if (!Array.isArray(hosts)) problems.push('network.hosts must be an array of lines');
  else
    hosts.forEach((line, i) => {
      const problem = lineProblem(`network.hosts[${i}]`, line);
      if (problem) problems.push(problem);
    });
  const nameservers = network.nameservers ?? (isIPv4(gateway) ? [gateway] : []);
  if (!Array.isArray(nameservers) || nameservers.some((n) => !isIPv4(n))) problems.push('network.nameservers must be IPv4 addresses');
  const search = network.search ?? [];
  if (!Array.isArray(search) || search.some((d) => typeof d !== 'string' || !DNS_NAME.test(d))) {
    problems.push('network.search must be DNS names');
  }
  if (problems.length > before) return undefined;

  const resolvConf =
    nameservers.length === 0
      ? undefined
      : `${search.length > 0 ? `search ${search.join(' ')}\n` : ''}${nameservers.map((n) => `nameserver ${n}\n`).join('')}`;
  const hostsText = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${ip}\t${ids.hostname}`, ...hosts, ''].join(
    '\n',
  );
  return { ip, prefix, gateway, bridge, mac: mac.toLowerCase(), mtu, hostIfName, resolvConf, hosts: hostsText };
}
