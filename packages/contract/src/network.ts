/** Container networking: the pure parts the server, the launcher side and the clients share. */

export const NETWORK_MODES = ['bridge', 'none'] as const;
/** bridge: a veth on the node's bridge with a leased address; none: loopback only. */
export type NetworkMode = (typeof NETWORK_MODES)[number];

export const PUBLISH_PROTOCOLS = ['tcp', 'udp'] as const;
export type PublishProtocol = (typeof PUBLISH_PROTOCOLS)[number];

/** At most this many published ports per container. */
export const MAX_PUBLISH = 64;

/** Four decimal octets, each 0-255 without leading zeros. */
const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;

/** Tells whether `s` is a dotted-quad IPv4 address. */
export function isIpv4(s: string): boolean {
  return IPV4.test(s);
}

/**
 * The MAC address of the container interface that has IPv4 address `ip`: 02:42 (locally
 * administered, unicast, as Docker does) followed by the address's four octets, so a MAC never
 * repeats within a subnet and anti-spoofing rules can be written from the lease alone.
 */
export function macOf(ip: string): string {
  if (!isIpv4(ip)) throw new Error(`not an IPv4 address: ${JSON.stringify(ip)}`);
  const octets = ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
  return ['02', '42', ...octets].join(':');
}

/** The key two publishes collide on when their addresses overlap (0.0.0.0 overlaps every address). */
export function publishesOverlap(
  a: { hostPort: number; protocol: string; hostIp?: string | undefined },
  b: { hostPort: number; protocol: string; hostIp?: string | undefined },
): boolean {
  if (a.hostPort !== b.hostPort || a.protocol !== b.protocol) return false;
  const ipA = a.hostIp ?? '0.0.0.0';
  const ipB = b.hostIp ?? '0.0.0.0';
  return ipA === '0.0.0.0' || ipB === '0.0.0.0' || ipA === ipB;
}
