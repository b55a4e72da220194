import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import type { ContainerView } from '@nagaya/contract';
import { bridgePorts, removeBridge, removeRuleset } from '@nagaya/native';
import { eventually, startTestFleet, type TestFleet, type TestFleetOptions } from './test-server';

// A test fleet with container networking on a bridge, tables, veth prefix and subnet of its own
// (named for this run, so nothing else on the host is touched), and what the networking tests ask
// of it: exec in a container, the kernel's view of the bridge and tables, Postgres counts.

/** A TestFleet whose node has its own bridge; stop() removes the bridge and tables too. */
export interface NetworkFleet {
  fleet: TestFleet;
  bridge: string;
  table: string;
  /** The prefix of this node's veth host ends. */
  vethPrefix: string;
  cidr: string;
  /** The bridge's own address: the containers' gateway, the node's bridge-side address. */
  gateway: string;
  /** The host ends of this fleet's veths on its bridge now. */
  ports(): string[];
  exec(name: string, command: string[], project?: string): Promise<ExecResult>;
  /** Runs a shell line in a container. */
  sh(name: string, line: string, project?: string): Promise<ExecResult>;
  /** Waits (up to 30 s) until a container of a project runs; a failed one fails the wait at once. */
  running(name: string, project?: string): Promise<ContainerView>;
  count(sql: string, values?: unknown[]): Promise<number>;
  /** The elements of one of the node's nftables sets or maps (an empty list when it has none). */
  elements(family: 'bridge' | 'inet', kind: 'set' | 'map', name: string): unknown[];
  stop(): Promise<void>;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Starts a test fleet whose node sets up networking on a bridge, tables and subnet of this run. */
export async function startNetworkFleet(options: TestFleetOptions = {}): Promise<NetworkFleet> {
  const tag = randomBytes(3).toString('hex');
  const bridge = `ngt${tag}`;
  const table = `ngt${tag}`;
  // host ends named for this run: another table on the host (nv*, the default) never holds them back
  const vethPrefix = `t${tag.slice(0, 2)}`;
  const cidr = `10.${200 + randomInt(50)}.${randomInt(256)}.0/24`;
  let fleet: TestFleet;
  try {
    fleet = await startTestFleet({
      slices: 96,
      ...options,
      env: {
        NAGAYA_HOST_NETWORK: 'on',
        NAGAYA_IP_FORWARD: 'off',
        NAGAYA_VETH_PREFIX: vethPrefix,
        NAGAYA_BRIDGE: bridge,
        NAGAYA_NFT_TABLE: table,
        NAGAYA_NETWORK_CIDR: cidr,
        ...options.env,
      },
    });
  } catch (err) {
    await removeHostSide(table, bridge);
    throw err;
  }
  const exec = (name: string, command: string[], project = 'default') =>
    fleet.admin.post<ExecResult>(`/containers/${name}/exec?project=${project}`, { command, timeoutMs: 15_000 });
  return {
    fleet,
    bridge,
    table,
    vethPrefix,
    cidr,
    gateway: fleet.api.worker!.network!.subnet.gateway,
    ports: () => bridgePorts(bridge).filter((p) => p.startsWith(vethPrefix)),
    exec,
    sh: (name, line, project) => exec(name, ['/bin/sh', '-c', line], project),
    running: (name, project = 'default') =>
      eventually(
        async () => {
          const c = await fleet.admin.get<ContainerView>(`/containers/${name}?project=${project}`);
          if (c.state === 'failed') throw new Error(`${name} failed: ${JSON.stringify(c.error)}`);
          return c.state === 'running' ? c : undefined;
        },
        30_000,
        `${name} running`,
      ),
    async count(sql, values = []) {
      const { rows } = await fleet.db.pool.query<{ n: string }>(sql, values);
      return Number(rows[0]!.n);
    },
    elements: (family, kind, name) => nftElements(family, kind, table, name),
    async stop() {
      await fleet.stop();
      await removeHostSide(table, bridge);
    },
  };
}

async function removeHostSide(table: string, bridge: string): Promise<void> {
  await removeRuleset(table).catch(() => undefined);
  await removeBridge(bridge).catch(() => undefined);
}

/** The elements of an nftables set or map of table (an empty list when it has none). */
export function nftElements(family: 'bridge' | 'inet', kind: 'set' | 'map', table: string, name: string): unknown[] {
  const doc = JSON.parse(
    execFileSync('nft', ['-j', 'list', kind, family, table, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
  ) as { nftables: Array<Record<string, { elem?: unknown[] }>> };
  return doc.nftables.flatMap((o) => o[kind]?.elem ?? []);
}

/**
 * A busybox container spec serving `hello-<name>` over HTTP on port 8000 (httpd in the
 * background; TERM ends it at once).
 */
export function httpServer(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    image: 'busybox',
    command: [
      '/bin/sh',
      '-c',
      `mkdir -p /www && echo hello-${name} > /www/index.html && httpd -p 8000 -h /www; trap "exit 0" TERM; while :; do sleep 1 & wait $!; done`,
    ],
    network: { mode: 'bridge' },
    ...extra,
  };
}

/** A busybox container spec that only waits (TERM ends it at once). */
export function idler(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    image: 'busybox',
    command: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'],
    network: { mode: 'bridge' },
    ...extra,
  };
}

/**
 * The shell line that sends `payload` to host:port over TCP from inside a container and prints
 * what comes back (busybox nc; at most `seconds` of waiting).
 */
export function tcpSay(host: string, port: number, payload = '', seconds = 2): string {
  return `printf '${payload}' | nc -w ${seconds} ${host} ${port}`;
}
