import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { promisify } from 'node:util';

import { NativeError } from './errors';
import { loadAddon } from './loader';
import { stopNameServer } from './name-server';
import { ipv4ToNumber } from './network-plan';

// Host setup for container networking (root mode), run once at worker start and whenever the set of
// networked containers changes: the bridge, and nagaya's own nftables tables rebuilt whole. Not on
// the launch path: per launch, the launcher makes the veth pair with rtnetlink (veth.c).

const run = promisify(execFile);

/** What ensureBridge sets up. */
export interface BridgeOptions {
  /** Interface name, e.g. nagaya0. */
  name: string;
  /** The bridge's own address with the subnet's prefix, e.g. 10.88.3.1/24: the containers' gateway. */
  gatewayCidr: string;
  mtu?: number;
  /** Set net.ipv4.ip_forward=1 (default true): containers reach out, and other hosts reach published ports. */
  ipForward?: boolean;
}

/** One networked container, as the rules need it. */
export interface RulesetContainer {
  hostIfName: string;
  ip: string;
  mac: string;
  /** Containers reach each other on the bridge only within the same project. */
  project: string;
  publish?: PublishedPort[];
}

/** A container port reachable at hostPort on the node's addresses (or only hostIp), and from the node itself. */
export interface PublishedPort {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  hostIp?: string;
}

/** Everything nagaya's tables hold; applyRuleset replaces them with exactly this. */
export interface NetworkRuleset {
  /** Name of the two tables, `inet <table>` and `bridge <table>` (default nagaya). */
  table?: string;
  bridge: string;
  /** The bridge's subnet, e.g. 10.88.3.0/24: masqueraded when it leaves by another interface. */
  subnet: string;
  containers: RulesetContainer[];
  /**
   * Host ends named so (default "nv", as hostIfNameFor makes them) belong to nagaya: one the
   * ruleset does not describe sends nothing. Ports of other names (other bridges) are left alone.
   */
  portPrefix?: string;
  /** Host ports containers may not reach on any of the node's addresses (the API, Postgres, Redis...). */
  deniedHostPorts?: Array<{ port: number; protocol?: 'tcp' | 'udp' }>;
}

const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const TABLE = /^[a-zA-Z][a-zA-Z0-9_]{0,31}$/;

function parseCidr(cidr: string): { ip: string; prefix: number } | undefined {
  const [ip, prefixText, extra] = String(cidr).split('/');
  const prefix = Number(prefixText);
  if (extra !== undefined || !isIPv4(ip) || !Number.isInteger(prefix) || prefix < 1 || prefix > 30) return undefined;
  return { ip, prefix };
}

function invalid(message: string): never {
  throw new NativeError(message, { code: 'INVALID_ARGUMENT' });
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new NativeError(`ip ${args.join(' ')} failed: ${stderr || (err as Error).message}`, { code: 'HOST_NETWORK' });
  }
}

/** The bridge's own MAC, fixed so it does not follow the lowest MAC among its ports (02:4e and 4 hash bytes of the name). */
function bridgeMac(name: string): string {
  let h = 2166136261;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  const bytes = [h >>> 24, (h >>> 16) & 255, (h >>> 8) & 255, h & 255].map((b) => b.toString(16).padStart(2, '0'));
  return ['02', '4e', ...bytes].join(':');
}

/** Creates the bridge if needed, gives it its address, brings it up; idempotent. Sets ip_forward and route_localnet on it. */
export async function ensureBridge(options: BridgeOptions): Promise<void> {
  const { name, gatewayCidr } = options;
  if (!IFNAME.test(name)) invalid('bridge name must be 1-15 of [A-Za-z0-9_.-]');
  if (!parseCidr(gatewayCidr)) invalid('gatewayCidr must be an IPv4 address with a prefix of 1-30');
  if (!existsSync(`/sys/class/net/${name}`)) {
    await ip('link', 'add', 'name', name, 'address', bridgeMac(name), 'type', 'bridge');
  } else if (!existsSync(`/sys/class/net/${name}/bridge`)) {
    throw new NativeError(`${name} exists and is not a bridge`, { code: 'HOST_NETWORK' });
  }
  if (options.mtu !== undefined) await ip('link', 'set', 'dev', name, 'mtu', String(options.mtu));
  await ip('addr', 'replace', gatewayCidr, 'dev', name);
  await ip('link', 'set', 'dev', name, 'up');
  // 127.0.0.1:hostPort is DNATed to a container on the bridge: the kernel routes a loopback
  // source out of the bridge only with route_localnet (the packet is then masqueraded).
  writeFileSync(`/proc/sys/net/ipv4/conf/${name}/route_localnet`, '1');
  if (options.ipForward !== false) writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
}

/** Removes a bridge and its name server (tests, uninstall); nothing if they do not exist. */
export async function removeBridge(name: string): Promise<void> {
  if (!IFNAME.test(name)) invalid('bridge name must be 1-15 of [A-Za-z0-9_.-]');
  await stopNameServer(name);
  if (existsSync(`/sys/class/net/${name}`)) await ip('link', 'del', 'dev', name);
}

/** Names of the interfaces attached to a bridge now (the host ends of its containers' veths). */
export function bridgePorts(bridge: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`).sort();
  } catch {
    return [];
  }
}

/**
 * Removes the bridge's ports named with portPrefix (default "nv") that are not in keep: host ends
 * whose container is gone but whose link outlived it (the reconciler's sweep). Returns their names.
 */
export async function removeStrayPorts(bridge: string, keep: ReadonlySet<string>, portPrefix = 'nv'): Promise<string[]> {
  const stray = bridgePorts(bridge).filter((name) => name.startsWith(portPrefix) && !keep.has(name));
  const removed: string[] = [];
  for (const name of stray) {
    try {
      await ip('link', 'del', 'dev', name);
      removed.push(name);
    } catch (err) {
      if (existsSync(`/sys/class/net/${name}`)) throw err; // gone meanwhile (its netns died) is fine
    }
  }
  return removed;
}

function quote(name: string): string {
  return `"${name}"`;
}

function checkRuleset(r: NetworkRuleset): void {
  if (!TABLE.test(r.table ?? 'nagaya')) invalid('table must be a name of letters, digits and _');
  if (!IFNAME.test(r.bridge)) invalid('bridge must be an interface name');
  if (!/^[a-zA-Z0-9_.-]{1,14}$/.test(r.portPrefix ?? 'nv')) invalid('portPrefix must be 1-14 of [A-Za-z0-9_.-]');
  if (!parseCidr(r.subnet)) invalid('subnet must be an IPv4 CIDR');
  const seen = new Set<string>();
  for (const c of r.containers) {
    if (!IFNAME.test(c.hostIfName) || !isIPv4(c.ip) || !MAC.test(c.mac)) invalid(`bad container entry ${JSON.stringify(c)}`);
    if (typeof c.project !== 'string' || c.project.length === 0) invalid('every container needs a project');
    for (const p of c.publish ?? []) {
      const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
      if (!ok(p.hostPort) || !ok(p.containerPort) || (p.protocol !== 'tcp' && p.protocol !== 'udp')) {
        invalid(`bad published port ${JSON.stringify(p)}`);
      }
      if (p.hostIp !== undefined && !isIPv4(p.hostIp)) invalid('hostIp must be an IPv4 address');
      const key = `${p.protocol}/${p.hostPort}`;
      if (seen.has(key)) invalid(`host port ${key} is published twice`);
      seen.add(key);
    }
  }
  for (const d of r.deniedHostPorts ?? []) {
    if (!Number.isInteger(d.port) || d.port < 1 || d.port > 65535) invalid('deniedHostPorts entries need a port of 1-65535');
  }
}

/** The subnet in canonical form (host bits cleared). */
function networkOf(cidr: string): string {
  const { ip: addr, prefix } = parseCidr(cidr) as { ip: string; prefix: number };
  const n = ipv4ToNumber(addr);
  const base = n - (n % 2 ** (32 - prefix));
  return `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.')}/${prefix}`;
}

/**
 * The number that stands for a project in the tables (a packet mark, only ever set on traffic
 * between two containers, and scrubbed when it enters a container's netns): the project itself
 * when it is a decimal number from 1 to 2^32-1 (pass the database's project id), else a 32-bit
 * FNV-1a hash of its name (two names could then share a wall: applyRuleset refuses that).
 */
export function projectMark(project: string): number {
  if (/^[1-9][0-9]{0,9}$/.test(project) && Number(project) <= 0xffffffff) return Number(project);
  let h = 2166136261;
  for (const byte of Buffer.from(project, 'utf8')) h = Math.imul(h ^ byte, 16777619) >>> 0;
  return h === 0 ? 1 : h;
}

/** The elements a container adds to nagaya's sets and maps, as "add element" lines. */
function containerElements(table: string, c: RulesetContainer): string[] {
  const port = quote(c.hostIfName);
  const mac = c.mac.toLowerCase();
  const mark = projectMark(c.project);
  const lines = [
    `add element bridge ${table} guard { ${port} . ${mac} . ${c.ip} }`,
    `add element bridge ${table} guard_mac { ${port} . ${mac} }`,
    `add element bridge ${table} ports { ${port} }`,
    `add element bridge ${table} port_project { ${port} : ${mark} }`,
    `add element bridge ${table} project_ports { ${port} . ${mark} }`,
    `add element inet ${table} ip_project { ${c.ip} : ${mark} }`,
    `add element inet ${table} project_ips { ${c.ip} . ${mark} }`,
  ];
  for (const p of c.publish ?? []) {
    if (p.hostIp)
      lines.push(`add element inet ${table} dnat_addr { ${p.hostIp} . ${p.protocol} . ${p.hostPort} : ${c.ip} . ${p.containerPort} }`);
    else lines.push(`add element inet ${table} dnat_any { ${p.protocol} . ${p.hostPort} : ${c.ip} . ${p.containerPort} }`);
  }
  return lines;
}

/**
 * The nft script that replaces nagaya's two tables with exactly what r describes, as one atomic
 * transaction; no other table is touched. Every per-container fact is an element of a set or map,
 * so addToRuleset / removeFromRuleset change one container at a constant cost.
 *
 * - `bridge <table>`: L2 walls on the containers' ports, named by their host ends (`meta ibrname`
 *   needs CONFIG_NFT_BRIDGE_META, which kernels may lack). A frame from a port passes only with
 *   the port's own MAC, and for IPv4 and ARP only with its own address too (no other ethertype);
 *   a port named with portPrefix that is not described sends nothing. Frames cross between two
 *   ports only within one project.
 * - `inet <table>`: masquerade for the subnet leaving by another interface, for loopback sources
 *   DNATed onto the bridge and for hairpin DNAT; DNAT of published ports on every local address
 *   (or hostIp), for other hosts (prerouting) and for the node itself, 127.0.0.1 included
 *   (output); no new connections into the subnet from outside but DNATed ones; routed traffic
 *   between projects on the bridge dropped; denied host ports dropped for everything arriving
 *   from the bridge.
 */
export function buildRuleset(r: NetworkRuleset): string {
  checkRuleset(r);
  const table = r.table ?? 'nagaya';
  const marks = new Map<number, string>();
  for (const c of r.containers) {
    const mark = projectMark(c.project);
    const other = marks.get(mark);
    if (other !== undefined && other !== c.project)
      invalid(`projects ${other} and ${c.project} share the mark ${mark}: pass numeric project ids`);
    marks.set(mark, c.project);
  }
  const br = quote(r.bridge);
  const subnet = networkOf(r.subnet);
  const prefix = quote(`${r.portPrefix ?? 'nv'}*`);
  const denied = (r.deniedHostPorts ?? []).map((d) => `${d.protocol ?? 'tcp'} . ${d.port}`);
  const dnatLookups = [
    '    dnat ip to ip daddr . meta l4proto . th dport map @dnat_addr',
    '    fib daddr type local dnat ip to meta l4proto . th dport map @dnat_any',
  ];
  const lines = [
    `table bridge ${table} {}`,
    `delete table bridge ${table}`,
    `table bridge ${table} {`,
    '  set guard { type ifname . ether_addr . ipv4_addr; }',
    '  set guard_mac { type ifname . ether_addr; }',
    '  set ports { type ifname; }',
    '  map port_project { type ifname : mark; }',
    '  set project_ports { type ifname . mark; }',
    '  chain guard {',
    '    iifname . ether saddr != @guard_mac drop',
    '    ether type arp iifname . arp saddr ether . arp saddr ip != @guard drop',
    '    ether type ip iifname . ether saddr . ip saddr != @guard drop',
    '    ether type != { ip, arp } drop',
    '  }',
    '  chain prerouting {',
    '    type filter hook prerouting priority -200; policy accept;',
    '    iifname @ports goto guard',
    `    iifname ${prefix} drop`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    `    oifname ${prefix} oifname != @ports drop`,
    '    iifname @ports meta mark set iifname map @port_project oifname . meta mark != @project_ports drop',
    '  }',
    '}',
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    '  map ip_project { type ipv4_addr : mark; }',
    '  set project_ips { type ipv4_addr . mark; }',
    '  map dnat_any { type inet_proto . inet_service : ipv4_addr . inet_service; }',
    '  map dnat_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }',
    `  set denied { type inet_proto . inet_service;${denied.length > 0 ? ` elements = { ${denied.join(', ')} };` : ''} }`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    ...dnatLookups,
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    ...dnatLookups,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${subnet} oifname != ${br} masquerade`,
    `    oifname ${br} ip saddr 127.0.0.0/8 masquerade`,
    `    oifname ${br} ip saddr ${subnet} ct status dnat masquerade`,
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname ${br} meta l4proto . th dport @denied drop`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    oifname ${br} iifname != ${br} ct state established,related accept`,
    `    oifname ${br} ct status dnat accept`,
    `    oifname ${br} iifname != ${br} drop`,
    `    iifname ${br} oifname ${br} meta mark set ip saddr map @ip_project ip daddr . meta mark != @project_ips drop`,
    '  }',
    '}',
    ...r.containers.flatMap((c) => containerElements(table, c)),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The nft script that adds one container to nagaya's tables (made by applyRuleset) without
 * touching the rest: what the worker runs before it launches a networked container.
 */
export function buildRulesetAddition(r: Pick<NetworkRuleset, 'table' | 'bridge' | 'subnet'>, c: RulesetContainer): string {
  checkRuleset({ ...r, containers: [c] });
  return `${containerElements(r.table ?? 'nagaya', c).join('\n')}\n`;
}

/** The nft script that takes one container out of nagaya's tables; elements already gone are no error. */
export function buildRulesetRemoval(r: Pick<NetworkRuleset, 'table' | 'bridge' | 'subnet'>, c: RulesetContainer): string {
  checkRuleset({ ...r, containers: [c] });
  // nft 1.0.6 has no "destroy": adding first (a no-op when present) makes the delete always succeed.
  const adds = containerElements(r.table ?? 'nagaya', c);
  return `${[...adds, ...adds.map((l) => l.replace(/^add /, 'delete '))].join('\n')}\n`;
}

/** Runs an nft script as one transaction (`nft -f -`): all of it, or none. */
export async function runNftScript(script: string): Promise<void> {
  return nft(script);
}

/**
 * Whether scripts go through libnftables in this process (the addon's nftRun): set false for
 * good the first time the library cannot be had, and then they go to the nft command.
 */
let inProcess = true;

async function nft(script: string): Promise<void> {
  if (inProcess) {
    try {
      await loadAddon().nftRun(script);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'HOST_NETWORK') throw new NativeError(`nft failed: ${(err as Error).message.trim()}`, { code: 'HOST_NETWORK' });
      if (code !== 'NFT_UNAVAILABLE' && code !== 'LOAD_FAILED') throw err;
      inProcess = false;
    }
  }
  await new Promise<void>((resolve, reject) => {
    const child = execFile('nft', ['-f', '-'], (err, _stdout, stderr) => {
      if (err) reject(new NativeError(`nft failed: ${String(stderr).trim() || err.message}`, { code: 'HOST_NETWORK' }));
      else resolve();
    });
    child.stdin?.end(script);
  });
}

/** Replaces nagaya's tables with the ruleset r describes, atomically (one `nft -f -` transaction). */
export async function applyRuleset(r: NetworkRuleset): Promise<void> {
  await nft(buildRuleset(r));
}

/** Adds one container's elements to nagaya's tables (one transaction, cost independent of how many there are). */
export async function addToRuleset(r: Pick<NetworkRuleset, 'table' | 'bridge' | 'subnet'>, c: RulesetContainer): Promise<void> {
  await nft(buildRulesetAddition(r, c));
}

/** Takes one container's elements out of nagaya's tables (one transaction). */
export async function removeFromRuleset(r: Pick<NetworkRuleset, 'table' | 'bridge' | 'subnet'>, c: RulesetContainer): Promise<void> {
  await nft(buildRulesetRemoval(r, c));
}

/** Removes nagaya's two tables (tests, uninstall); nothing if they do not exist. */
export async function removeRuleset(table = 'nagaya'): Promise<void> {
  if (!TABLE.test(table)) invalid('table must be a name of letters, digits and _');
  await nft(`table bridge ${table} {}\ndelete table bridge ${table}\ntable inet ${table} {}\ndelete table inet ${table}\n`);
}
