import { join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Allocator } from '@nagaya/allocator';
import { ContainerRuntime, type ExitStatus } from '@nagaya/native';
import type { ServerConfig } from '../config';
import type { ImageStore } from '../images/image-store';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { ContainerMounts } from '../services/container-mounts';
import { measureNodeCapacity } from '../services/node-capacity';
import type { ContainerStore } from '../store/container-store';
import type { Db } from '../store/db';
import type { NetworkStore } from '../store/network-store';
import type { NodeStore } from '../store/node-store';
import type { VolumeStore } from '../store/volume-store';
import { NodeNetwork } from '../services/node-network';
import { NodeFleet } from '../services/node-fleet';
import { ContainerJobs } from './container-jobs';
import { ImagePullJobs } from './image-pull-jobs';
import type { JobQueues } from './job-queues';
import { lifecycleQueueName, rpcQueueName } from './job-queues';
import type { LifecycleJobData, PullJobData, RpcJobData } from './job-types';
import { NodeVolumes } from './node-volumes';
import { Reconciler } from './reconciler';
import { ExecRelays } from './exec-relays';
import { FileRelays } from './file-relays';
import { LogFollowers } from './log-followers';
import { RpcJobs } from './rpc-jobs';
import { RunJobs } from './run-jobs';
import { nodeRunsQueueName, RUNS_QUEUE, RunQueue, type RunJobData } from './run-queue';
import { RunStore } from '../store/run-store';
import { UsageSampler } from './usage-sampler';
import { UsageBoard } from '../observability/usage-board';
import { recordJobEnds } from '../events/job-events';

export interface WorkerNodeDeps {
  config: ServerConfig;
  db: Db;
  connection: Redis;
  containers: ContainerStore;
  nodes: NodeStore;
  networks: NetworkStore;
  allocator: Allocator;
  images: ImageStore;
  volumes: VolumeStore;
  queues: JobQueues;
  metrics: Metrics;
  log: Logger;
  version: string;
}

/**
 * One worker node: its launcher (through packages/native), the BullMQ workers of its queues,
 * the exit watcher, the reconciler and the heartbeat. Closing it leaves containers running; the
 * next WorkerNode on the same data directory and node name adopts them.
 */
export class WorkerNode {
  readonly runtime: ContainerRuntime;
  /** The log streams this node serves (logs?follow=1): one per request, until its container exits or its client leaves. */
  logFollowers!: LogFollowers;
  execRelays!: ExecRelays;
  fileRelays!: FileRelays;
  readonly jobs: ContainerJobs;
  readonly pulls: ImagePullJobs;
  /** This node's part of the runs queue. */
  readonly runs: RunJobs;
  readonly reconciler: Reconciler;
  readonly fleet: NodeFleet;
  /** This node's volume directories. */
  readonly volumes: NodeVolumes;
  private workers: Worker[] = [];
  private runWorkers: Worker[] = [];
  private timers: NodeJS.Timeout[] = [];
  private reconciling: Promise<boolean> | undefined;
  private sweeping: Promise<void> | undefined;

  private constructor(
    private readonly deps: WorkerNodeDeps,
    runtime: ContainerRuntime,
    readonly network: NodeNetwork | undefined,
  ) {
    this.runtime = runtime;
    const { containers, allocator, images, log, metrics, queues, config } = deps;
    this.volumes = new NodeVolumes(config.dataDir, config.nodeName);
    this.jobs = new ContainerJobs({
      nodeName: config.nodeName,
      containers,
      allocator,
      runtime,
      images,
      volumes: this.volumes,
      log,
      metrics,
      network,
      scheduleRestart: (c, delayMs) =>
        queues.enqueue(
          c.node,
          { kind: 'start', containerId: c.id, containerName: c.name, byPolicy: true, restartCount: c.restartCount },
          { delayMs },
        ),
    });
    this.runs = new RunJobs({
      nodeName: config.nodeName,
      pool: config.pool,
      containers,
      runs: new RunStore(deps.db),
      allocator,
      runtime,
      images,
      network,
      mounts: new ContainerMounts(deps.volumes, config.dataDir),
      volumes: this.volumes,
      forward: (run, queuedBefore) => new RunQueue(queues).submit(run, queuedBefore),
      directRunTakenIn: (project) => new RunQueue(queues).directRunTakenIn(project),
      log,
      defaultPidsMax: config.defaultPidsMax,
      defaultNetworkMode: config.defaultNetworkMode,
      projectConcurrency: config.runProjectConcurrency,
      retentionMs: config.runRetentionMs,
    });
    this.pulls = new ImagePullJobs({
      images,
      insecureRegistries: config.insecureRegistries,
      maxImageBytes: config.imageUploadLimitBytes,
      log,
    });
    this.fleet = new NodeFleet({ db: deps.db, containers, nodes: deps.nodes, queues, allocator, log });
    this.reconciler = new Reconciler({
      nodeName: config.nodeName,
      containers,
      allocator,
      runtime,
      queues,
      jobs: this.jobs,
      network,
      images,
      volumes: { dirs: this.volumes, rows: deps.volumes },
      log,
      orphanLeaseAgeMs: config.orphanLeaseMs,
      graceMs: Math.min(15_000, config.reconcileMs * 2),
      defaultPidsMax: config.defaultPidsMax,
      runs: {
        jobs: this.runs,
        jobState: (run) => new RunQueue(queues).jobState(run),
        requeue: (run) => new RunQueue(queues).submit(run, 0, undefined, { replace: true }),
      },
    });
  }

  /** The directory of this node's launcher and containers. */
  static stateDir(config: ServerConfig): string {
    return join(config.dataDir, 'runtime', config.nodeName);
  }

  /** Starts the node: heartbeat, launcher, reconcile once, then take jobs. */
  static async start(deps: WorkerNodeDeps): Promise<WorkerNode> {
    const { config, nodes, log } = deps;
    // what the API checks a container's limits against before it places one here
    const info = { dataDir: config.dataDir, concurrency: config.workerConcurrency, capacity: measureNodeCapacity() };
    await nodes.heartbeat(config.nodeName, info, deps.version, true);
    const runtime = await ContainerRuntime.open({ stateDir: WorkerNode.stateDir(config), consoleLogMaxBytes: config.consoleLogMaxBytes });
    // the subnet, the bridge and the tables (rebuilt from Postgres); none if the host cannot
    const network = await NodeNetwork.setUp(config, deps.networks, WorkerNode.stateDir(config), log);
    const node = new WorkerNode(deps, runtime, network);
    runtime.on('exit', (id: string, status: ExitStatus) => {
      // a run's attempt: its run job waits for this exit and settles it (applyExit would read its row to learn so)
      if (node.runs.isAttemptInProgress(id)) return;
      node.jobs.applyExit(id, status).catch((err: unknown) => log.warn('recording an exit failed', { id, error: err as Error }));
    });
    // The launcher died (the containers did not): the runtime starts a new one, which adopts
    // them. Containers that ended in between have no exit event to come; reconcile them now.
    runtime.on('disconnected', (err: Error) => log.error('the launcher went away; starting a new one', { error: err }));
    runtime.on('reconnect-failed', (err: Error) => log.warn('starting a new launcher failed; retrying', { error: err }));
    runtime.on('reconnected', () => {
      log.warn('a new launcher took over the containers');
      // a reconcile already running when the launcher died has failed or seen the old state:
      // wait for it, then run a fresh one
      void node.reconcile().then(() => node.reconcile());
    });
    const reconciled = await node.reconcile();
    // Back from a removal: the reconcile just stopped what ran of its lost containers (and any
    // container with no row), so the fences kept for them can go. Not if it failed: then the
    // fences stay until an admin releases them.
    if (reconciled) {
      const released = await deps.allocator.unfence(config.nodeName);
      if (released.length) log.warn('released the fenced slices of containers lost with this node', { count: released.length });
    }
    node.startWorkers();
    // takes new containers from now on (a node that stopped, or was removed, comes back)
    await nodes.setStatus(config.nodeName, 'active');
    node.timers.push(
      setInterval(() => {
        nodes.heartbeat(config.nodeName, info, deps.version).catch((err: unknown) => log.warn('heartbeat failed', { error: err as Error }));
      }, config.heartbeatMs),
    );
    node.timers.push(setInterval(() => void node.reconcile(), config.reconcileMs));
    // usage for /metrics: sampled here, where the cgroups are, and left in Redis for the API
    const usage = new UsageSampler(
      config.nodeName,
      runtime,
      deps.containers,
      new UsageBoard(deps.connection, config.queuePrefix),
      config.usageSampleMs,
      log,
    );
    void usage.sample();
    node.timers.push(setInterval(() => void usage.sample(), config.usageSampleMs));
    node.timers.push(setInterval(() => void node.sweep(), config.sweepMs));
    for (const t of node.timers) t.unref();
    log.info('worker node started', { node: config.nodeName, stateDir: WorkerNode.stateDir(config) });
    return node;
  }

  /** Runs the reconciler (never two at once); tells whether it went through. */
  async reconcile(): Promise<boolean> {
    if (!this.reconciling) {
      this.reconciling = this.reconciler
        .run()
        .then(() => true)
        .catch((err: unknown) => {
          this.deps.log.warn('reconcile failed', { error: err as Error });
          return false;
        })
        .finally(() => (this.reconciling = undefined));
    }
    return (await this.reconciling) as boolean;
  }

  /** Places again the pending containers of nodes that are gone (never two at once here; one node at a time fleet-wide). */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = this.fleet
      .sweep()
      .then(() => undefined)
      .catch((err: unknown) => this.deps.log.warn('sweep failed', { error: err as Error }))
      .finally(() => (this.sweeping = undefined));
    await this.sweeping;
  }

  private startWorkers(): void {
    const { config, connection, log } = this.deps;
    this.logFollowers = new LogFollowers(this.runtime, connection);
    this.execRelays = new ExecRelays(this.runtime, connection);
    this.fileRelays = new FileRelays(this.runtime, connection);
    const rpc = new RpcJobs(this.runtime, this.volumes, this.logFollowers, config.execOutputLimitBytes, this.execRelays, this.fileRelays);
    // image pulls share the lifecycle queue: they are placed on a node as a launch is
    const lifecycle = new Worker<LifecycleJobData | PullJobData>(
      lifecycleQueueName(config.nodeName),
      (job: Job<LifecycleJobData | PullJobData>, token?: string) =>
        job.data.kind === 'pull' ? this.pulls.process(job as Job<PullJobData>) : this.jobs.process(job as Job<LifecycleJobData>, token),
      // A killed worker's active jobs go back to the queue once their lock lapses and the stall
      // check sees it: 15 s + 10 s instead of BullMQ's 30 s + 30 s. Live workers renew the lock
      // every 7.5 s, so a long stop (timeoutSeconds) is not mistaken for a stalled one.
      // A job whose worker was killed is handed out again up to 3 times before BullMQ fails it
      // (lifecycle jobs are safe to repeat: they claim the row by state and adopt what runs).
      {
        connection,
        prefix: config.queuePrefix,
        concurrency: config.workerConcurrency,
        lockDuration: 15_000,
        stalledInterval: 10_000,
        maxStalledCount: 3,
      },
    );
    const rpcWorker = new Worker<RpcJobData>(rpcQueueName(config.nodeName), (job: Job<RpcJobData>) => rpc.process(job), {
      connection,
      prefix: config.queuePrefix,
      concurrency: Math.max(4, config.workerConcurrency),
    });
    // Runs have a queue of their own, so a flood of them never delays a container's launch; each
    // node takes runConcurrency at once, the fleet runGlobalConcurrency (set on the queue).
    // A run's job is held for as long as its run runs: a killed worker's job comes back after
    // its lock lapses, and the next worker takes up the attempt it left (RunJobs.resume).
    void this.deps.queues
      .queue(RUNS_QUEUE)
      .setGlobalConcurrency(config.runGlobalConcurrency)
      .catch((err: unknown) => log.warn('could not set the global concurrency of runs', { error: err as Error }));
    const runWorkerOf = (queue: string) =>
      new Worker<RunJobData>(queue, (job: Job<RunJobData>, token?: string) => this.runs.process(job, token), {
        connection,
        prefix: config.queuePrefix,
        concurrency: config.runConcurrency,
        lockDuration: 15_000,
        stalledInterval: 10_000,
        maxStalledCount: 3,
      });
    // The runs that mount a volume of this node wait in its own runs queue (see nodeRunsQueueName),
    // taken by a second worker with the same processor: the node runs at most runConcurrency of
    // them besides its share of the shared queue (which alone the fleet-wide limit bounds), and
    // their projects' limits hold across both, counted by the claim.
    this.runWorkers = [runWorkerOf(RUNS_QUEUE), runWorkerOf(nodeRunsQueueName(config.nodeName))];
    for (const w of [lifecycle, rpcWorker, ...this.runWorkers]) {
      w.on('error', (err) => log.warn('queue worker error', { error: err }));
      this.workers.push(w);
    }
    recordJobEnds(lifecycle, this.deps.db, (message, error) => log.warn(message, { error }));
  }

  /**
   * Stops normally: marks the node draining at once (placement gives it nothing from that
   * moment), lets the jobs in flight finish, hands its pending containers to active nodes, marks
   * it offline and disconnects from the launcher. The containers keep running; the node adopts
   * them again when it starts.
   */
  async close(): Promise<void> {
    const { nodes, config, log } = this.deps;
    for (const t of this.timers) clearInterval(t);
    this.network?.names?.close();
    await nodes
      .setStatus(config.nodeName, 'draining')
      .catch((err: unknown) => log.warn('could not mark the node draining', { error: err as Error }));
    // Runs in flight are not waited for (one may last days): their processes keep running in the
    // launcher, their jobs' locks lapse, and the next worker takes up each attempt where it is.
    this.runs.abandon();
    await Promise.all(this.workers.map((w) => w.close(this.runWorkers.includes(w)).catch(() => undefined)));
    await this.logFollowers?.close();
    await this.execRelays?.close();
    await this.fileRelays?.close();
    await this.reconciling;
    await this.sweeping;
    // its pending containers go to nodes that take them now, not when some sweeper next looks
    await this.fleet.sweep().catch((err: unknown) => log.warn('could not hand over pending containers', { error: err as Error }));
    await nodes
      .setStatus(config.nodeName, 'offline')
      .catch((err: unknown) => log.warn('could not mark the node offline', { error: err as Error }));
    this.runtime.close();
  }
}
