import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Allocator, ensureSystemPool } from '@nagaya/allocator';
import { runMigrations } from '@nagaya/migrations';
import { createApp } from './api/app';
import { listen, readTls } from './api/listen';
import type { ServerConfig } from './config';
import { serveDashboard } from './dashboard/serve-dashboard';
import { EventHub } from './events/event-hub';
import { ImageRecordCache } from './services/image-record-cache';
import { RunWaiters } from './services/run-waiters';
import { ImageStore } from './images/image-store';
import { JobQueues } from './jobs/job-queues';
import { WorkerNode } from './jobs/worker-node';
import { createLogger, type Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { UsageBoard } from './observability/usage-board';
import { NodeFleet } from './services/node-fleet';
import { ContainerExecService } from './services/container-exec-service';
import { ContainerLogService } from './services/container-log-service';
import { ContainerService } from './services/container-service';
import { ContainerStatsService } from './services/container-stats-service';
import { ContainerTargets } from './services/container-targets';
import { ImagePullService } from './services/image-pulls';
import { ContainerMounts } from './services/container-mounts';
import { VolumeService } from './services/volume-service';
import { RunService } from './services/run-service';
import { RunQueue } from './jobs/run-queue';
import { RunStore } from './store/run-store';
import { AuditStore } from './store/audit-store';
import { ContainerStore } from './store/container-store';
import { NetworkStore } from './store/network-store';
import { ProjectStore } from './store/project-store';
import { Db } from './store/db';
import { IdempotencyStore } from './store/idempotency-store';
import { NodeStore } from './store/node-store';
import { TokenStore } from './store/token-store';
import { VolumeStore } from './store/volume-store';
import { LogStreams } from './services/log-streams';
import { ExecSessionHub } from './services/exec-sessions';
import { FileTransferHub } from './services/file-transfers';
import { ContainerFileService } from './services/container-file-service';

export const VERSION = '0.1.0';

/** A running nagaya process: the API, a worker node, or both. */
export interface NagayaServer {
  config: ServerConfig;
  url: string | undefined;
  worker: WorkerNode | undefined;
  db: Db;
  allocator: Allocator;
  /** The API's fan-out of the event table (none on a worker-only node). */
  events: EventHub | undefined;
  /** Set when no admin token existed and none was configured: shown once, stored hashed. */
  generatedAdminToken: string | undefined;
  /** The API's subscriptions to followed logs (undefined in a worker-only process). */
  logStreams: LogStreams | undefined;
  close(): Promise<void>;
}

/** Starts nagaya as `config.role` says: migrate, make the default pool and image, then serve. */
export async function startNagaya(
  config: ServerConfig,
  log: Logger = createLogger({ node: config.nodeName, role: config.role }),
): Promise<NagayaServer> {
  // before anything is started: a bad certificate must not leave a worker running without its API
  const tls = config.role !== 'worker' && config.tls ? readTls(config.tls) : undefined;
  await runMigrations(config.databaseUrl);
  const db = new Db(config.databaseUrl, 20);
  const allocator = new Allocator(db.pool, { warn: (m) => log.warn(m) });
  const containers = new ContainerStore(db);
  const nodes = new NodeStore(db, config.nodeOfflineMs);
  const tokens = new TokenStore(db);
  const audit = new AuditStore(db);
  const idempotency = new IdempotencyStore(db);
  const projects = new ProjectStore(db);
  const networks = new NetworkStore(db);
  const volumes = new VolumeStore(db);
  const images = new ImageStore(
    config.dataDir,
    {
      maxBytes: config.imageUnpackedLimitBytes,
      maxEntries: config.imageMaxEntries,
      maxDepth: config.imageMaxPathDepth,
    },
    db,
    {
      node: config.nodeName,
      registryUrl: config.registryUrl,
      maxImageBytes: config.imageUploadLimitBytes,
      warn: (m) => log.warn(m),
    },
  );
  const metrics = new Metrics();

  // The API must fail fast while Redis is down (503), so its connection queues nothing offline;
  // BullMQ workers need the opposite (block and retry forever).
  const producer = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  producer.on('error', () => undefined);
  await producer.connect();
  const queues = new JobQueues(producer, config.queuePrefix, db);

  const { pool } = await ensureSystemPool(allocator, {
    name: config.pool,
    user: config.subidUser,
    subuidPath: config.subuidPath,
    subgidPath: config.subgidPath,
    warn: (m) => log.warn(m),
  });
  log.info('id pool ready', { pool: pool.name, source: pool.source });

  let worker: WorkerNode | undefined;
  let workerConnection: Redis | undefined;
  // The API checks images by name in the data directory, so it needs the busybox image as much
  // as a worker does (API and workers of one host share NAGAYA_DATA_DIR). Only a worker must have it.
  if (config.role === 'api') {
    await images.ensureBusybox().catch((err: unknown) => log.warn('no busybox image for the API to offer', { error: err as Error }));
  }
  if (config.role !== 'api') await images.ensureBusybox();
  // images of earlier releases, and busybox, are recorded as the default project's
  if (config.role !== 'worker') await images.adoptUnrecorded();
  if (config.role !== 'api') {
    workerConnection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
    workerConnection.on('error', () => undefined);
    worker = await WorkerNode.start({
      config,
      db,
      connection: workerConnection,
      containers,
      nodes,
      networks,
      allocator,
      images,
      volumes,
      queues,
      metrics,
      log,
      version: VERSION,
    });
  }

  // Tokens are the API's business: a worker-only process neither stores nor makes one.
  let generatedAdminToken: string | undefined;
  if (config.role !== 'worker' && config.adminToken) {
    await tokens.ensure('admin', 'admin', config.adminToken);
  } else if (config.role !== 'worker') {
    generatedAdminToken = await tokens.createFirstAdmin();
    // the secret goes to the caller (nagaya serve prints it once on stderr), never into the log
    if (generatedAdminToken) log.warn('no admin token was configured: one was generated; nagaya serve shows it once');
  }

  let server: Server | undefined;
  let url: string | undefined;
  let events: EventHub | undefined;
  let logStreams: LogStreams | undefined;
  let execSessions: ExecSessionHub | undefined;
  let fileTransfers: FileTransferHub | undefined;
  if (config.role !== 'worker') {
    events = new EventHub(db, config.databaseUrl, (message, error) => log.warn(message, { error }), config.eventHeartbeatMs);
    await events.ready;
    logStreams = new LogStreams(producer, config.queuePrefix);
    execSessions = new ExecSessionHub(producer, config.queuePrefix);
    fileTransfers = new FileTransferHub(producer, config.queuePrefix);
    const usageBoard = new UsageBoard(producer, config.queuePrefix);
    metrics.setSources({
      containersByState: () => containers.countByState(),
      slicesByPoolAndState: async () => {
        const out: Array<{ pool: string; state: string; count: number }> = [];
        for (const p of await allocator.listPools()) {
          const s = await allocator.stats(p.name);
          for (const state of ['active', 'shared', 'keyed', 'quarantined', 'free', 'outOfPool'] as const)
            out.push({ pool: p.name, state, count: s[state] });
        }
        return out;
      },
      queueDepthByNode: async () => queues.depths((await nodes.list()).map((n) => n.name)),
      containerUsage: async () => usageBoard.read((await nodes.list()).map((n) => n.name)),
    });
    // one cache of image records for every create the API makes: containers and runs
    const imageRecords = new ImageRecordCache((project, name) => images.visibleWithIdentities(project, name));
    const targets = new ContainerTargets(containers, nodes);
    // containers and runs take their mounts by the same rules
    const mounts = new ContainerMounts(volumes, config.dataDir);
    const containerService = new ContainerService({
      containers,
      nodes,
      allocator,
      images,
      imageRecords,
      queues,
      audit,
      networks,
      pool: config.pool,
      nodeOfflineMs: config.nodeOfflineMs,
      defaultPidsMax: config.defaultPidsMax,
      defaultNetworkMode: config.defaultNetworkMode,
      mounts,
      targets,
    });
    const runStore = new RunStore(db);
    const runQueue = new RunQueue(queues);
    const fleet = new NodeFleet({ db, containers, nodes, queues, allocator, audit, log, runs: { store: runStore, queue: runQueue } });
    const dashboardDir = join(__dirname, '..', 'dashboard', 'dist');
    const app = createApp({
      db,
      redis: producer,
      metrics,
      log,
      containerService,
      containerExec: new ContainerExecService({ targets, queues, audit, execSessions }),
      containerLogs: new ContainerLogService({ containers, targets, queues, logStreams }),
      containerStats: new ContainerStatsService(targets, queues),
      containerFiles: new ContainerFileService({ targets, queues, audit, transfers: fileTransfers }),
      volumeService: new VolumeService({ volumes, nodes, queues, audit, log, nodeOfflineMs: config.nodeOfflineMs }),
      runService: new RunService({
        runs: runStore,
        queue: runQueue,
        queues,
        imageRecords,
        mounts,
        audit,
        projects,
        waiters: new RunWaiters(events),
      }),
      fleet,
      idempotency,
      tokens,
      audit,
      allocator,
      queues,
      nodes,
      images,
      imagePulls: new ImagePullService({
        images,
        queues,
        nodes,
        nodeOfflineMs: config.nodeOfflineMs,
        insecureRegistries: config.insecureRegistries,
      }),
      containers,
      projects,
      networks,
      events,
      bodyLimitBytes: config.bodyLimitBytes,
      imageUploadLimitBytes: config.imageUploadLimitBytes,
      fileCopyLimitBytes: config.fileCopyLimitBytes,
      version: VERSION,
      ...(existsSync(dashboardDir) ? { dashboard: serveDashboard(dashboardDir) } : {}),
    });
    ({ server, url } = await listen(app, config, tls));
    // this node's containers may not reach the API, also on a port the kernel picked (PORT=0)
    const address = server.address();
    if (worker?.network && typeof address === 'object' && address) await worker.network.denyListeningPort(address.port);
    log.info('api listening', { url, tls: Boolean(tls) });
  }

  return {
    config,
    url,
    worker,
    db,
    allocator,
    events,
    generatedAdminToken,
    logStreams,
    async close() {
      if (server) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server!.close(() => resolve()));
      }
      await logStreams?.close();
      await execSessions?.close();
      await fileTransfers?.close();
      await events?.close();
      await worker?.close();
      await queues.close();
      await workerConnection?.quit().catch(() => undefined);
      await producer.quit().catch(() => undefined);
      await db.close();
    },
  };
}
