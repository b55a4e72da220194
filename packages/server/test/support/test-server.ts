import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerRuntime } from '@nagaya/native';
import { loadConfig, startNagaya, type NagayaServer, type ServerConfig } from '@nagaya/server';
import { ApiClient } from '../../src/cli/api-client';
import { eventually, laneChunk } from './test-helpers';
import { killProcessesInUidRange } from '../../../native/test/helpers';
import { createTestDatabase, type TestDatabase } from '../../../allocator/test/support/test-database';
import { testRedisUrl } from '../../../allocator/test/support/test-services';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestFleet {
  url: string;
  admin: ApiClient;
  db: TestDatabase;
  api: NagayaServer;
  /** Worker-only processes started with addWorker (the api server is also a worker unless role says otherwise). */
  workers: NagayaServer[];
  dataDir: string;
  /** The first host ID of the fleet's pool. */
  uidStart: number;
  base: ServerConfig;
  client(token?: string): ApiClient;
  /** Starts another worker node (its own node name) on the same database and Redis. */
  addWorker(nodeName: string): Promise<NagayaServer>;
  stop(): Promise<void>;
}

export interface TestFleetOptions {
  /** The default pool: this many 65536-ID slices starting at uidStart (written to a test subuid file). */
  slices?: number;
  uidStart?: number;
  role?: 'all' | 'api';
  nodeName?: string;
  quarantineSeconds?: number;
  /** More environment for the server (e.g. limits). */
  env?: Record<string, string>;
}

/**
 * Starts a real nagaya (API + worker by default) on its own database, queue prefix, data
 * directory and port, with its pool read from a subuid file of its own.
 */
export async function startTestFleet(options: TestFleetOptions = {}): Promise<TestFleet> {
  if (!process.env.NAGAYA_TEST_LOG) process.env.NAGAYA_LOG = 'silent';
  const db = await createTestDatabase('nagaya_srv');
  const dataDir = mkdtempSync(join(tmpdir(), 'nagaya-srv-'));
  const slices = options.slices ?? 64;
  // host IDs 2.2e9..2.5e9 (native tests use fixed bases below, the e2e systems 2.5e9..3.5e9), in
  // a lane of this vitest worker
  const uidStart = options.uidStart ?? (await laneChunk(Math.ceil(2.2e9 / 2 ** 24), Math.floor(2.5e9 / 2 ** 24) - 1, 2)) * 2 ** 24;
  writeFileSync(join(dataDir, 'subuid'), `root:${uidStart}:${slices * 65536}\n`);
  writeFileSync(join(dataDir, 'subgid'), `root:${uidStart}:${slices * 65536}\n`);
  const prefix = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const base = loadConfig(
    {
      ...process.env,
      PORT: '0',
      NAGAYA_LISTEN: '127.0.0.1',
      DATABASE_URL: db.url,
      REDIS_URL: testRedisUrl(),
      NAGAYA_DATA_DIR: join(dataDir, 'data'),
      NAGAYA_ADMIN_TOKEN: ADMIN_TOKEN,
      NAGAYA_NODE_NAME: options.nodeName ?? 'node-a',
      NAGAYA_QUEUE_PREFIX: prefix,
      NAGAYA_SUBUID_PATH: join(dataDir, 'subuid'),
      NAGAYA_SUBGID_PATH: join(dataDir, 'subgid'),
      NAGAYA_HEARTBEAT_MS: '500',
      NAGAYA_NODE_OFFLINE_MS: '3000',
      NAGAYA_RECONCILE_MS: '1000',
      NAGAYA_ORPHAN_LEASE_MS: '1500',
      // no bridge or nftables unless a test asks (its own bridge, table and subnet)
      NAGAYA_HOST_NETWORK: 'off',
      NAGAYA_DEFAULT_NETWORK_MODE: 'none',
      ...options.env,
    },
    { role: options.role ?? 'all' },
  );
  const api = await startNagaya(base);
  if (options.quarantineSeconds !== undefined) {
    await db.pool.query('UPDATE id_pool SET quarantine_seconds = $1', [options.quarantineSeconds]);
  }
  const workers: NagayaServer[] = [];
  const fleet: TestFleet = {
    url: api.url!,
    admin: new ApiClient(api.url!, ADMIN_TOKEN),
    db,
    api,
    workers,
    dataDir,
    uidStart,
    base,
    client: (token?: string) => new ApiClient(api.url!, token),
    async addWorker(nodeName: string) {
      const worker = await startNagaya({ ...base, role: 'worker', nodeName });
      workers.push(worker);
      return worker;
    },
    async stop() {
      for (const server of [api, ...workers]) {
        // kill what the test left running, then stop the launcher of the node
        await server.worker?.runtime.shutdown().catch(() => undefined);
        await server.close().catch(() => undefined);
      }
      // A worker the test closed on purpose left its launcher running (containers outlive their
      // worker); reach every node's launcher through its state directory and stop it too.
      const runtimes = join(dataDir, 'data', 'runtime');
      for (const node of existsSync(runtimes) ? readdirSync(runtimes) : []) {
        const runtime = await ContainerRuntime.open({ stateDir: join(runtimes, node) }).catch(() => undefined);
        await runtime?.shutdown().catch(() => undefined);
      }
      killProcessesInUidRange(uidStart, uidStart + slices * 65536);
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return fleet;
}

export { eventually } from './test-helpers';

/** Waits (up to 30 s) until a container is running; a container that failed fails the wait at once. */
export async function waitRunning<C extends { state: string; error?: unknown }>(fleet: TestFleet, name: string): Promise<C> {
  return eventually(
    async () => {
      const c = await fleet.admin.get<C>(`/containers/${name}`);
      if (c.state === 'failed') throw new Error(`${name} failed: ${JSON.stringify(c.error)}`);
      return c.state === 'running' ? c : undefined;
    },
    30_000,
    `${name} running`,
  );
}
