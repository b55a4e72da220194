import { hostname } from 'node:os';
import { NagayaError } from '@nagaya/allocator';
import { DEFAULT_PIDS_MAX } from '@nagaya/native';

export type ServeRole = 'all' | 'api' | 'worker';

/** Everything the server reads from its environment, validated once at start. */
export interface ServerConfig {
  port: number;
  host: string;
  databaseUrl: string;
  redisUrl: string;
  dataDir: string;
  nodeName: string;
  adminToken: string | undefined;
  role: ServeRole;
  workerConcurrency: number;
  pool: string;
  subidUser: string;
  /** Where the default pool is read from (tests point these at files of their own). */
  subuidPath: string;
  subgidPath: string;
  heartbeatMs: number;
  nodeOfflineMs: number;
  reconcileMs: number;
  /** A lease with no container row older than this is released by the reconciler. */
  orphanLeaseMs: number;
  bodyLimitBytes: number;
  imageUploadLimitBytes: number;
  /** pids.max of a container whose request sets none. */
  defaultPidsMax: number;
  /** A container's console.log is rotated to console.log.1 when it grows past this. */
  consoleLogMaxBytes: number;
  /** Prefix of BullMQ queue names, so test runs and installs sharing one Redis never meet. */
  queuePrefix: string;
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
  return {
    port: integer(env, 'PORT', 8080),
    host: env.NAGAYA_LISTEN ?? '0.0.0.0',
    databaseUrl: env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/nagaya',
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    dataDir: env.NAGAYA_DATA_DIR ?? '/var/lib/nagaya',
    adminToken: env.NAGAYA_ADMIN_TOKEN || undefined,
    workerConcurrency: integer(env, 'NAGAYA_WORKER_CONCURRENCY', 8, 1),
    pool: env.NAGAYA_POOL ?? 'default',
    subidUser: env.NAGAYA_SUBID_USER ?? 'root',
    subuidPath: env.NAGAYA_SUBUID_PATH ?? '/etc/subuid',
    subgidPath: env.NAGAYA_SUBGID_PATH ?? '/etc/subgid',
    heartbeatMs: integer(env, 'NAGAYA_HEARTBEAT_MS', 5000, 100),
    nodeOfflineMs: integer(env, 'NAGAYA_NODE_OFFLINE_MS', 20000, 200),
    reconcileMs: integer(env, 'NAGAYA_RECONCILE_MS', 30000, 100),
    orphanLeaseMs: integer(env, 'NAGAYA_ORPHAN_LEASE_MS', 120000, 0),
    bodyLimitBytes: integer(env, 'NAGAYA_BODY_LIMIT_BYTES', 256 * 1024, 1024),
    imageUploadLimitBytes: integer(env, 'NAGAYA_IMAGE_UPLOAD_LIMIT_BYTES', 2 * 1024 ** 3, 1024),
    defaultPidsMax: integer(env, 'NAGAYA_DEFAULT_PIDS_MAX', DEFAULT_PIDS_MAX, 1),
    consoleLogMaxBytes: integer(env, 'NAGAYA_CONSOLE_LOG_MAX_BYTES', 10 * 1024 * 1024, 4096),
    queuePrefix: env.NAGAYA_QUEUE_PREFIX ?? 'nagaya',
    ...overrides,
    role,
    nodeName,
  };
}
