import { isIPv4 } from 'node:net';
import { hostname } from 'node:os';
import { NETWORK_MODES, type NetworkMode } from '@nagaya/contract';
import { NagayaError } from './errors';
import { DEFAULT_PIDS_MAX } from '@nagaya/native';
import { dataDirOf, databaseUrlOf, redisUrlOf, registryUrlOf } from './deploy/service-urls';

export type ServeRole = 'all' | 'api' | 'worker';

/** Everything the server reads from its environment, validated once at start. */
export interface ServerConfig {
  port: number;
  /** The address the API binds (NAGAYA_LISTEN); loopback unless the operator opens it up. */
  host: string;
  /** PEM files for HTTPS (NAGAYA_TLS_CERT and NAGAYA_TLS_KEY, both or neither); absent: plain HTTP. */
  tls: { certPath: string; keyPath: string } | undefined;
  databaseUrl: string;
  redisUrl: string;
  /** The fleet's image registry, credentials in the URL (see registryUrlOf); undefined: none. */
  registryUrl: string | undefined;
  /** Registries (host:port) pulled from over plain http (NAGAYA_INSECURE_REGISTRIES, comma-separated). */
  insecureRegistries: string[];
  dataDir: string;
  nodeName: string;
  adminToken: string | undefined;
  role: ServeRole;
  workerConcurrency: number;
  /** Runs one worker node runs at once (NAGAYA_RUN_CONCURRENCY, 4). */
  runConcurrency: number;
  /** Runs the whole fleet runs at once (NAGAYA_RUN_GLOBAL_CONCURRENCY; BullMQ's global concurrency of the runs queue). */
  runGlobalConcurrency: number;
  /** Runs of one project running at once, fleet-wide (NAGAYA_RUN_PROJECT_CONCURRENCY). */
  runProjectConcurrency: number;
  /** How long a finished run's result is kept (NAGAYA_RUN_RETENTION: seconds, or 30m, 12h, 7d; default 7d). */
  runRetentionMs: number;
  pool: string;
  subidUser: string;
  /** Where the default pool is read from (tests point these at files of their own). */
  subuidPath: string;
  subgidPath: string;
  heartbeatMs: number;
  /** How often a worker samples its running containers' usage for /metrics (NAGAYA_USAGE_SAMPLE_MS). */
  usageSampleMs: number;
  /** How often an idle GET /events stream sends a heartbeat comment. */
  eventHeartbeatMs: number;
  nodeOfflineMs: number;
  reconcileMs: number;
  /** How often a worker looks for pending containers on nodes that are draining or offline, to place them again. */
  sweepMs: number;
  /** A lease with no container row older than this is released by the reconciler. */
  orphanLeaseMs: number;
  bodyLimitBytes: number;
  imageUploadLimitBytes: number;
  /** NAGAYA_FILE_COPY_LIMIT_BYTES: the largest file or tar copied into or out of a container. */
  fileCopyLimitBytes: number;
  /** What an image import may unpack: uncompressed bytes, entries, path depth (counted as written). */
  imageUnpackedLimitBytes: number;
  imageMaxEntries: number;
  imageMaxPathDepth: number;
  /** pids.max of a container whose request sets none. */
  defaultPidsMax: number;
  /** A container's console.log is rotated to console.log.1 when it grows past this. */
  consoleLogMaxBytes: number;
  /** What a one-shot exec keeps of stdout and of stderr, each (NAGAYA_EXEC_OUTPUT_LIMIT_BYTES); the rest is cut, said by `truncated`. */
  execOutputLimitBytes: number;
  /** Prefix of BullMQ queue names, so test runs and installs sharing one Redis never meet. */
  queuePrefix: string;
  /** The fleet's container network (NAGAYA_NETWORK_CIDR): each node's subnet is a /networkNodePrefix of it. */
  networkCidr: string;
  /** The prefix length of each node's subnet (NAGAYA_NETWORK_NODE_PREFIX, 24: 253 container addresses per node). */
  networkNodePrefix: number;
  /** The network mode of a container whose create names none (NAGAYA_DEFAULT_NETWORK_MODE, bridge). */
  defaultNetworkMode: NetworkMode;
  /** Set up container networking on this node at worker start (NAGAYA_HOST_NETWORK=off: never; containers keep mode none). */
  hostNetwork: boolean;
  /** The node's bridge (NAGAYA_BRIDGE, default nagaya0). */
  bridge: string;
  /** Set net.ipv4.ip_forward=1 at setup (NAGAYA_IP_FORWARD, on): containers reach out, other hosts reach published ports. */
  ipForward: boolean;
  /**
   * The first 2-6 characters of the host ends of this node's veths (NAGAYA_VETH_PREFIX, nv): its
   * tables hold back any port of that prefix they do not describe, and its reconciler removes them.
   */
  vethPrefix: string;
  /** The name of nagaya's two nftables tables, inet and bridge (NAGAYA_NFT_TABLE, default nagaya). */
  nftTable: string;
  /**
   * IPv4 servers the node's name server forwards names outside nagaya's zone to
   * (NAGAYA_DNS_UPSTREAM, comma-separated; empty, the default: it forwards nothing).
   */
  dnsUpstream: string[];
}

/** Each node's subnet is a /24 of the fleet's network unless NAGAYA_NETWORK_NODE_PREFIX says otherwise. */
const NETWORK_NODE_PREFIX = 24;

/**
 * Reads NAGAYA_NETWORK_NODE_PREFIX: the prefix length of each node's subnet, /16 (65533
 * containers with an address per node) to /28 (13), as Kubernetes' node CIDR mask size.
 */
function networkNodePrefix(env: NodeJS.ProcessEnv): number {
  const prefix = integer(env, 'NAGAYA_NETWORK_NODE_PREFIX', NETWORK_NODE_PREFIX, 16);
  if (prefix > 28) throw new NagayaError('INVALID_INPUT', `NAGAYA_NETWORK_NODE_PREFIX must be from 16 to 28, not ${prefix}`);
  return prefix;
}

/** Reads NAGAYA_NETWORK_CIDR: an IPv4 network (no host bits) of at least one node subnet. */
function networkCidr(env: NodeJS.ProcessEnv, nodePrefix: number): string {
  const raw = env.NAGAYA_NETWORK_CIDR || '10.88.0.0/16';
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(raw);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const bits = m ? Number(m[5]) : -1;
  const refuse = (why: string) =>
    new NagayaError(
      'INVALID_INPUT',
      `NAGAYA_NETWORK_CIDR must be an IPv4 network such as 10.88.0.0/16 (${why}), not ${JSON.stringify(raw)}`,
    );
  if (!m || octets.some((o) => o > 255) || m.slice(1, 5).some((o) => /^0\d/.test(o!))) throw refuse('a.b.c.d/bits');
  if (bits < 8 || bits > nodePrefix) throw refuse(`between /8 and /${nodePrefix}: a /${nodePrefix} per node`);
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  if (address % 2 ** (32 - bits) !== 0) throw refuse('no host bits set');
  return raw;
}

/** A duration: seconds, or a number with s, m, h or d. */
function duration(env: NodeJS.ProcessEnv, name: string, fallbackMs: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackMs;
  const m = /^(\d{1,9})([smhd]?)$/.exec(raw.trim());
  if (!m) throw new NagayaError('INVALID_INPUT', `${name} must be seconds, or a number with s, m, h or d (7d), not ${JSON.stringify(raw)}`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit * 1000;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new NagayaError('INVALID_INPUT', `${name} must be an integer of at least ${min}, not ${JSON.stringify(raw)}`);
  }
  return value;
}

/** NAGAYA_REGISTRY_URL (or ensure-services.sh's file), checked: an http(s) URL with no path. */
function registryUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = registryUrlOf(env);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new NagayaError('INVALID_INPUT', 'NAGAYA_REGISTRY_URL must be an http(s) URL such as http://user:password@127.0.0.1:5000');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || (url.pathname !== '/' && url.pathname !== '')) {
    throw new NagayaError('INVALID_INPUT', 'NAGAYA_REGISTRY_URL must be an http(s) URL of a registry, with no path');
  }
  return raw;
}

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'on' || raw === '1' || raw === 'true') return true;
  if (raw === 'off' || raw === '0' || raw === 'false') return false;
  throw new NagayaError('INVALID_INPUT', `${name} must be on or off, not ${JSON.stringify(raw)}`);
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = env[name] || fallback;
  if (!allowed.includes(raw as T))
    throw new NagayaError('INVALID_INPUT', `${name} must be one of ${allowed.join(', ')}, not ${JSON.stringify(raw)}`);
  return raw as T;
}

function ipv4List(env: NodeJS.ProcessEnv, name: string): string[] {
  const list = (env[name] ?? '').split(/[\s,]+/).filter(Boolean);
  for (const item of list) {
    if (!isIPv4(item))
      throw new NagayaError('INVALID_INPUT', `${name} must be IPv4 addresses separated by commas, not ${JSON.stringify(item)}`);
  }
  return list;
}

function named(env: NodeJS.ProcessEnv, name: string, fallback: string, pattern: RegExp): string {
  const raw = env[name] || fallback;
  if (!pattern.test(raw)) throw new NagayaError('INVALID_INPUT', `${name} must match ${pattern}, not ${JSON.stringify(raw)}`);
  return raw;
}

/** Reads the configuration from environment variables (see README "Configuration"). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ServerConfig> = {}): ServerConfig {
  const role = (overrides.role ?? env.NAGAYA_ROLE ?? 'all') as ServeRole;
  if (!['all', 'api', 'worker'].includes(role)) {
    throw new NagayaError('INVALID_INPUT', `role must be all, api or worker, not ${JSON.stringify(role)}`);
  }
  const nodeName = overrides.nodeName ?? env.NAGAYA_NODE_NAME ?? hostname().toLowerCase();
  if (!/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(nodeName)) {
    throw new NagayaError('INVALID_INPUT', `NAGAYA_NODE_NAME must be a DNS name, not ${JSON.stringify(nodeName)}`);
  }
  const certPath = env.NAGAYA_TLS_CERT || undefined;
  const keyPath = env.NAGAYA_TLS_KEY || undefined;
  if (Boolean(certPath) !== Boolean(keyPath)) {
    throw new NagayaError(
      'INVALID_INPUT',
      `HTTPS needs both NAGAYA_TLS_CERT and NAGAYA_TLS_KEY; only ${certPath ? 'NAGAYA_TLS_CERT' : 'NAGAYA_TLS_KEY'} is set`,
    );
  }
  return {
    port: integer(env, 'PORT', 8080),
    host: env.NAGAYA_LISTEN || '127.0.0.1',
    tls: certPath && keyPath ? { certPath, keyPath } : undefined,
    // from the environment or the files scripts/ensure-services.sh wrote (not read when overridden)
    databaseUrl: overrides.databaseUrl ?? databaseUrlOf(env),
    redisUrl: overrides.redisUrl ?? redisUrlOf(env),
    registryUrl: registryUrl(env),
    insecureRegistries: (env.NAGAYA_INSECURE_REGISTRIES ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean),
    dataDir: dataDirOf(env),
    adminToken: env.NAGAYA_ADMIN_TOKEN || undefined,
    workerConcurrency: integer(env, 'NAGAYA_WORKER_CONCURRENCY', 8, 1),
    runConcurrency: integer(env, 'NAGAYA_RUN_CONCURRENCY', 4, 1),
    runGlobalConcurrency: integer(env, 'NAGAYA_RUN_GLOBAL_CONCURRENCY', 64, 1),
    runProjectConcurrency: integer(env, 'NAGAYA_RUN_PROJECT_CONCURRENCY', 32, 1),
    runRetentionMs: duration(env, 'NAGAYA_RUN_RETENTION', 7 * 86400_000),
    pool: env.NAGAYA_POOL ?? 'default',
    subidUser: env.NAGAYA_SUBID_USER ?? 'root',
    subuidPath: env.NAGAYA_SUBUID_PATH ?? '/etc/subuid',
    subgidPath: env.NAGAYA_SUBGID_PATH ?? '/etc/subgid',
    heartbeatMs: integer(env, 'NAGAYA_HEARTBEAT_MS', 5000, 100),
    usageSampleMs: integer(env, 'NAGAYA_USAGE_SAMPLE_MS', 10_000, 100),
    eventHeartbeatMs: integer(env, 'NAGAYA_EVENT_HEARTBEAT_MS', 15_000, 100),
    nodeOfflineMs: integer(env, 'NAGAYA_NODE_OFFLINE_MS', 20000, 200),
    reconcileMs: integer(env, 'NAGAYA_RECONCILE_MS', 30000, 100),
    sweepMs: integer(env, 'NAGAYA_SWEEP_MS', 1000, 100),
    orphanLeaseMs: integer(env, 'NAGAYA_ORPHAN_LEASE_MS', 120000, 0),
    bodyLimitBytes: integer(env, 'NAGAYA_BODY_LIMIT_BYTES', 256 * 1024, 1024),
    imageUploadLimitBytes: integer(env, 'NAGAYA_IMAGE_UPLOAD_LIMIT_BYTES', 2 * 1024 ** 3, 1024),
    fileCopyLimitBytes: integer(env, 'NAGAYA_FILE_COPY_LIMIT_BYTES', 256 * 1024 ** 2, 1024),
    imageUnpackedLimitBytes: integer(env, 'NAGAYA_IMAGE_UNPACKED_LIMIT_BYTES', 8 * 1024 ** 3, 1024),
    imageMaxEntries: integer(env, 'NAGAYA_IMAGE_MAX_ENTRIES', 1_000_000, 1),
    imageMaxPathDepth: integer(env, 'NAGAYA_IMAGE_MAX_PATH_DEPTH', 128, 1),
    defaultPidsMax: integer(env, 'NAGAYA_DEFAULT_PIDS_MAX', DEFAULT_PIDS_MAX, 1),
    consoleLogMaxBytes: integer(env, 'NAGAYA_CONSOLE_LOG_MAX_BYTES', 10 * 1024 * 1024, 4096),
    execOutputLimitBytes: integer(env, 'NAGAYA_EXEC_OUTPUT_LIMIT_BYTES', 1024 * 1024, 0),
    queuePrefix: env.NAGAYA_QUEUE_PREFIX ?? 'nagaya',
    networkCidr: networkCidr(env, networkNodePrefix(env)),
    networkNodePrefix: networkNodePrefix(env),
    defaultNetworkMode: oneOf(env, 'NAGAYA_DEFAULT_NETWORK_MODE', 'bridge', NETWORK_MODES),
    hostNetwork: onOff(env, 'NAGAYA_HOST_NETWORK', true),
    bridge: named(env, 'NAGAYA_BRIDGE', 'nagaya0', /^[a-zA-Z0-9_.-]{1,15}$/),
    ipForward: onOff(env, 'NAGAYA_IP_FORWARD', true),
    vethPrefix: named(env, 'NAGAYA_VETH_PREFIX', 'nv', /^[a-z][a-z0-9]{1,5}$/),
    nftTable: named(env, 'NAGAYA_NFT_TABLE', 'nagaya', /^[a-zA-Z][a-zA-Z0-9_]{0,31}$/),
    dnsUpstream: ipv4List(env, 'NAGAYA_DNS_UPSTREAM'),
    ...overrides,
    role,
    nodeName,
  };
}
