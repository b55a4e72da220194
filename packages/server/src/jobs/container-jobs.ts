import { existsSync } from 'node:fs';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { DEFAULT_STOP_TIMEOUT_SECONDS } from '@nagaya/contract';
import { leaseFromRow, sqlStateOf, type Allocator, type Lease } from '@nagaya/allocator';
import {
  processHasIdMaps,
  type ContainerNetwork,
  type ContainerRuntime,
  type ExitStatus,
  type IdMapLine,
  type StopSignalName,
} from '@nagaya/native';
import type { ImageStore } from '../images/image-store';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { noNetworkHere, type NodeNetwork } from '../services/node-network';
import { allocatorKey } from '../services/sticky-key';
import { processOptionsOf } from '../store/container-run';
import type { ContainerRow, ContainerStore, LaunchImage } from '../store/container-store';
import type { LifecycleJobData } from './job-types';
import type { LaunchMount, NodeVolumes } from './node-volumes';
import {
  adoptionCandidate,
  describeError,
  exitOutcome,
  failedStartOutcome,
  isPermanent,
  isStoppable,
  jobOwnsLease,
  relaunchAfter,
  restartDecision,
  startableStates,
  yieldToRequest,
} from './launch-decisions';

/** How long a stop job waits in its slot for a process that exits on its signal. */
const QUICK_EXIT_MS = 100;
/** A stop job comes back this long after the grace time (the launcher's SIGKILL is done by then), and then as often. */
const STOP_RECHECK_MS = 250;
/** A stop still running this long after its grace time is sent again (its launcher may have died with the first). */
const STOP_RESEND_AFTER_MS = 5_000;

/** A stop or delete job and its lock: what lets it wait for an exit without holding a worker slot. */
interface WaitingJob {
  job: Job<LifecycleJobData>;
  token: string | undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Why a container whose run nobody saw end (and that its policy does not restart) is stopped. */
const NODE_REBOOT = {
  code: 'NODE_REBOOT',
  message: "its process was gone when its node's worker looked again (the host rebooted, or its launcher was killed with it)",
};

interface IdMaps {
  uid: IdMapLine[];
  gid: IdMapLine[];
}

export interface ContainerJobDeps {
  /** This node: a job acts only on a row that still names it (a pending container may have been moved away). */
  nodeName: string;
  containers: ContainerStore;
  allocator: Allocator;
  runtime: ContainerRuntime;
  images: ImageStore;
  /** This node's volume directories: a launch mounts what its row records. */
  volumes?: NodeVolumes;
  log: Logger;
  metrics: Metrics;
  /** This node's container networking; undefined when it has none (a bridge-mode container is then refused). */
  network?: NodeNetwork;
  /** Queues the start of a container its restart policy restarts, after `delayMs`. */
  scheduleRestart: (c: ContainerRow, delayMs: number) => Promise<unknown>;
}

/**
 * Runs lifecycle jobs on this node: launch (allocate the slice, find the image, spawn through
 * packages/native, record pid and state), start, stop, restart and delete. A failed launch gives
 * back what it took (the slice, the container directory) before it is retried or marked failed.
 */
export class ContainerJobs {
  constructor(private readonly deps: ContainerJobDeps) {}

  /** The BullMQ processor; `token` is the job's lock (a stop waits for its exit without holding a slot). */
  async process(job: Job<LifecycleJobData>, token?: string): Promise<Record<string, unknown>> {
    const { containers } = this.deps;
    // the hot path: one statement reads the row, moves it to starting and gives it its slice
    if (job.data.kind === 'launch' || job.data.kind === 'start') {
      const from = startableStates(job.data.kind, job.data.byPolicy === true);
      const node = this.deps.nodeName;
      const policy = job.data.byPolicy ? { restartCount: job.data.restartCount ?? -1 } : undefined;
      const claimed = await containers
        .claimWithDefaultLease(job.data.containerId, from, node, this.deps.images.launchGuard(), policy)
        .catch((err: unknown) => {
          // the allocation failed and took the claim back with it: claim, then allocate on its own
          if (sqlStateOf(err) === undefined) throw err;
          return 'separately' as const;
        });
      const row =
        claimed === 'separately'
          ? await containers.transition(job.data.containerId, from, 'starting', { error: null }, { node })
          : claimed?.row;
      if (!row) {
        const now = await containers.findById(job.data.containerId);
        if (now && now.node !== this.deps.nodeName) return { skipped: `the container moved to node ${now.node}` };
        return { skipped: now ? `the container is ${now.state}` : 'the container no longer exists' };
      }
      const lease = claimed !== 'separately' && claimed?.lease ? leaseFromRow(claimed.lease, row.pool) : undefined;
      return this.start(job, row, lease, claimed === 'separately' ? undefined : claimed?.image);
    }
    const c = await containers.findById(job.data.containerId);
    if (!c) return { skipped: 'the container no longer exists' };
    if (c.node !== this.deps.nodeName) return { skipped: `the container moved to node ${c.node}` };
    switch (job.data.kind) {
      case 'stop':
        return this.stop(c, job.data.timeoutSeconds, { job, token });
      case 'restart': {
        await this.stop(c, job.data.timeoutSeconds);
        const fresh = await containers.transition(c.id, ['stopped', 'failed', 'restarting'], 'starting', { error: null });
        if (!fresh) return { skipped: 'the container is no longer stopped' };
        return this.start(job, fresh);
      }
      case 'delete':
        return this.delete(c, job.data.timeoutSeconds, { job, token });
    }
  }

  /** Starts a container already moved to `starting` (with its lease when the claim took it). */
  private async start(job: Job<LifecycleJobData>, c: ContainerRow, leased?: Lease, image?: LaunchImage): Promise<Record<string, unknown>> {
    const { containers, allocator, runtime, images, log, metrics } = this.deps;
    const firstLaunch = job.data.kind === 'launch';
    let leaseOwned = false;
    try {
      const lease =
        leased ??
        (await allocator.allocate({
          owner: c.id,
          pool: c.pool,
          isolated: c.idmap.isolated,
          size: c.idmap.size,
          key: c.idmap.key === undefined ? undefined : allocatorKey(c.project, c.idmap.key),
          raw: c.idmap.raw,
        }));
      leaseOwned = jobOwnsLease(lease, job.timestamp);
      const layers = await images.layersForLaunch(c.project, c.image, image);
      const mounts = (await this.deps.volumes?.mountsFor(c)) ?? [];
      // the address and the rules before the launch: until its rules are in, the veth sends nothing
      let network: ContainerNetwork | undefined;
      if (c.network.mode === 'bridge') {
        if (!this.deps.network) throw noNetworkHere(this.deps.nodeName);
        network = await this.deps.network.attach(c);
      }
      // A worker killed between spawning and recording a container leaves it running; BullMQ
      // then hands this job out again. Adopt that process (same id, same lease) instead of
      // launching again: a relaunch fails with EEXIST and its cleanup would kill a healthy
      // container and, racing the exit watcher, mark it failed.
      const launched = await this.launchOrAdopt(c, layers, lease.maps, network, mounts);
      // Not waiting for the WAL flush: if a Postgres crash loses this, the row is still starting
      // with its slice, and the reconciler adopts the running container.
      const running = await containers.transition(
        c.id,
        ['starting'],
        'running',
        {
          pid: launched.pid,
          startTime: launched.startTime,
          startedAt: new Date(),
          exitCode: null,
          exitSignal: null,
          finishedAt: null,
          error: null,
        },
        undefined,
        { unflushed: true },
      );
      if (!running) {
        // Deleted, or stopped by a request that came while we launched: that request wins.
        const yielded = yieldToRequest(await containers.findById(c.id), DEFAULT_STOP_TIMEOUT_SECONDS * 1000);
        if (yielded) {
          log.info('start gave way', { container: c.name, id: c.id, pid: launched.pid, reason: yielded.skipped });
          await runtime.stop(c.id, yielded.stopTimeoutMs).catch(() => undefined);
          await this.detach(c, { unlessStarted: true });
          return { skipped: yielded.skipped };
        }
      }
      // A run that ended before the row said running (`true`) had its exit event ignored (no pid
      // recorded yet, see applyExit): settle it from the launcher's record now. While the
      // runtime still awaits the run's exit event, the event is to come and finds the pid.
      if (!runtime.awaitsExit(c.id)) {
        const record = runtime.status(c.id);
        if (record.exit) await this.applyExit(c.id, { ...record.exit, pid: launched.pid });
      }
      if (firstLaunch) metrics.launchSeconds.observe((Date.now() - c.createdAt.getTime()) / 1000);
      log.info('container running', { container: c.name, id: c.id, pid: launched.pid, uidBase: lease.uidBase });
      return { pid: launched.pid, uidBase: lease.uidBase };
    } catch (err) {
      const permanent = isPermanent(err);
      const { final, releaseLease, nextState } = failedStartOutcome({
        permanent,
        attemptsMade: job.attemptsMade,
        attempts: job.opts.attempts,
        firstLaunch,
        leaseOwned,
      });
      try {
        await this.undoStart(c, releaseLease);
      } catch (cleanupErr) {
        // the slice could not be given back: the row stays starting, with why, for the reconciler
        // to give it its job again; a permanent failure stays one
        await containers.transition(c.id, ['starting'], 'starting', { error: describeError(err), pid: null }).catch(() => undefined);
        if (permanent) throw new UnrecoverableError(describeError(err).message);
        throw cleanupErr;
      }
      // a policy restart tried again waits in restarting, where only its own retry may claim it
      const next = job.data.byPolicy && !final ? 'restarting' : nextState;
      await containers.transition(c.id, ['starting'], next, { error: describeError(err), pid: null });
      metrics.jobFailures.inc({ kind: job.data.kind, final: String(final) });
      log.warn('container start failed', { container: c.name, id: c.id, error: describeError(err), final });
      if (permanent) throw new UnrecoverableError(describeError(err).message);
      throw err;
    }
  }

  /**
   * Launches the container, or adopts the process an earlier attempt started. A launch whose
   * launcher died under it is tried again at once (the runtime starts a new launcher and the
   * request waits for it): a launcher restart should not cost the job one of its few attempts.
   * The adoption check runs again each time, since the dead launcher may have finished the launch.
   */
  private async launchOrAdopt(
    c: ContainerRow,
    layers: string[],
    maps: IdMaps,
    network: ContainerNetwork | undefined,
    mounts: LaunchMount[],
  ): Promise<{ pid: number; startTime: string }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (
          this.alreadyRunning(c.id, maps) ??
          (await this.deps.runtime.launch({
            id: c.id,
            layers,
            argv: c.command,
            env: c.env,
            ...processOptionsOf(c.run),
            ...(c.run?.init ? { init: true } : {}),
            hostname: c.name,
            uidMap: maps.uid,
            gidMap: maps.gid,
            limits: c.limits,
            security: { nesting: c.security.nesting === true },
            ...(network ? { network } : {}),
            ...(mounts.length ? { mounts } : {}),
          }))
        );
      } catch (err) {
        if (!relaunchAfter(err, attempt)) throw err;
        this.deps.log.warn('the launcher went away during a launch; trying again', { container: c.name, id: c.id, attempt });
      }
    }
  }

  /** The running process of an earlier attempt of this launch, if the launcher has one whose kernel maps are these very maps. */
  private alreadyRunning(id: string, maps: IdMaps): { pid: number; startTime: string } | undefined {
    if (!this.deps.runtime.hasRecord(id)) return undefined; // never launched here: one stat, no reads
    const candidate = adoptionCandidate(this.deps.runtime.status(id));
    if (!candidate) return undefined;
    // the maps the kernel really has (plan.json may be half-written when its worker was killed)
    if (!processHasIdMaps(candidate.pid, candidate.startTime, maps.uid, maps.gid)) return undefined;
    this.deps.log.info('adopting the container an earlier attempt started', { id, pid: candidate.pid });
    return candidate;
  }

  /** Gives back what a failed start took: the container's directory and, when it was new, its slice. */
  private async undoStart(c: ContainerRow, releaseLease: boolean): Promise<void> {
    const { runtime, allocator, log } = this.deps;
    try {
      const record = runtime.status(c.id);
      if (record.state === 'running') await runtime.stop(c.id, 0);
      if (releaseLease && existsSync(record.dir)) runtime.remove(c.id);
    } catch (err) {
      log.warn('cleanup after a failed start', { id: c.id, error: describeError(err) });
    }
    await this.detach(c);
    if (!releaseLease) return;
    // A release that fails (its dependency is down) fails the cleanup too: the row then stays
    // starting instead of becoming failed with its slice still taken, and the reconciler gives
    // it its job again, which replays the lease and ends it properly.
    await allocator.release(c.id).catch((err: unknown) => {
      log.warn('release after a failed start', { id: c.id, error: describeError(err) });
      throw err;
    });
  }

  private async stop(c: ContainerRow, timeoutSeconds?: number, waiting?: WaitingJob): Promise<Record<string, unknown>> {
    const { containers } = this.deps;
    if (!isStoppable(c.state)) return { skipped: `the container is ${c.state}` };
    // from pending: nothing runs yet, and the launch job will find the row no longer pending
    await containers.transition(c.id, ['running', 'starting', 'pending', 'restarting'], 'stopping');
    const status = await this.stopProcess(c, timeoutSeconds, waiting);
    // nothing runs now: its address and rules go before the row says stopped
    await this.detach(c, { unlessStarted: true });
    await containers.transition(c.id, ['stopping', 'running', 'starting', 'pending', 'restarting'], 'stopped', {
      pid: null,
      exitCode: status?.exitCode ?? null,
      exitSignal: status?.signal ?? null,
      finishedAt: new Date(),
      error: null,
    });
    return { exitCode: status?.exitCode ?? null, signal: status?.signal ?? null };
  }

  private async delete(c: ContainerRow, timeoutSeconds?: number, waiting?: WaitingJob): Promise<Record<string, unknown>> {
    const { containers, runtime, allocator, log } = this.deps;
    await containers.transition(c.id, [], 'deleting');
    await this.stopProcess(c, timeoutSeconds, waiting);
    const record = runtime.status(c.id);
    if (existsSync(record.dir)) runtime.remove(c.id);
    // its rules go before its row (the lease row goes with it, by cascade)
    await this.detach(c, { strict: true });
    // the slice is freed only once the storage its IDs own is gone
    await allocator.release(c.id);
    await containers.delete(c.id);
    log.info('container deleted', { container: c.name, id: c.id });
    return { deleted: true };
  }

  /**
   * Ends the container's process: its stop signal, then SIGKILL after the timeout (the launcher
   * escalates by itself). With `waiting` (a stop or delete job and its lock), the job does not
   * hold its worker slot through the grace time: it sends the signal once, gives an exit 100 ms,
   * and otherwise moves itself to delayed and comes back when the grace time is over, until the
   * launcher reports the process gone. 1,000 containers that ignore SIGTERM then stop together.
   */
  private async stopProcess(c: ContainerRow, timeoutSeconds: number | undefined, waiting?: WaitingJob): Promise<ExitStatus | undefined> {
    const { runtime, log } = this.deps;
    const record = runtime.status(c.id);
    if (record.state !== 'running') return record.exit;
    const timeoutMs = (timeoutSeconds ?? c.run?.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS) * 1000;
    const signal = (c.run?.stopSignal ?? 'SIGTERM') as StopSignalName;
    if (!waiting?.token) return runtime.stop(c.id, timeoutMs, signal);
    const { job, token } = waiting;
    const sentAt = job.data.stopSentAt;
    if (sentAt === undefined || Date.now() - sentAt > timeoutMs + STOP_RESEND_AFTER_MS) {
      // (again, if the first was lost with a launcher that died: a stop of a stopped process is a no-op)
      let gone = false;
      let delayed = false;
      const exited = runtime.stop(c.id, timeoutMs, signal).then(
        (status) => {
          gone = true;
          // the job waits as a delayed one: bring it back now rather than at the end of the grace time
          if (delayed) void job.promote().catch(() => undefined);
          return status;
        },
        (err: unknown) => {
          log.warn('stop', { id: c.id, error: describeError(err) });
          return undefined;
        },
      );
      const quick = await Promise.race([exited, sleep(QUICK_EXIT_MS).then(() => 'waiting' as const)]);
      if (quick !== 'waiting') return quick ?? runtime.status(c.id).exit;
      await job.updateData({ ...job.data, stopSentAt: Date.now() });
      await job.moveToDelayed(Date.now() + timeoutMs + STOP_RECHECK_MS, token);
      delayed = true;
      if (gone) await job.promote().catch(() => undefined);
      throw new DelayedError();
    }
    await job.moveToDelayed(Date.now() + STOP_RECHECK_MS, token);
    throw new DelayedError();
  }

  /**
   * Records how a container's init ended (called for every exit the launcher reports). The row
   * changes only if it is still as the outcome was decided on: a restart job may have moved it on
   * to its next run in between, and an exit of the old run must not stop the new one.
   */
  async applyExit(id: string, status: ExitStatus): Promise<void> {
    const { containers, log } = this.deps;
    const c = await containers.findById(id);
    // a run's attempt: its run worker waits for this exit and settles it (jobs/run-jobs.ts)
    if (c?.kind === 'run') return;
    const outcome = exitOutcome(c, status);
    if (!c || !outcome) return;
    const finishedAt = status.finishedAt ? new Date(status.finishedAt) : new Date();
    const lastExit = { exitCode: status.exitCode, signal: status.signal, finishedAt: finishedAt.toISOString(), error: outcome.error };
    const change = { pid: null, exitCode: status.exitCode, exitSignal: status.signal, error: outcome.error, finishedAt, lastExit };
    const restart = restartDecision(c, {
      failed: outcome.state === 'failed',
      lost: status.lost === true,
      requested: c.state === 'stopping',
      finishedAt: finishedAt.getTime(),
    });
    if (restart) {
      // its slice, address, volumes and writable layer stay: the next run takes them up again
      const restarting = await containers.transition(
        id,
        [c.state],
        'restarting',
        { ...change, restartCount: c.restartCount + 1, restartStreak: restart.streak },
        { pid: c.pid },
      );
      if (!restarting) return;
      log.info('container exited; restarting by its policy', {
        container: c.name,
        id,
        exitCode: status.exitCode,
        signal: status.signal,
        policy: c.restartPolicy.name,
        restartCount: restarting.restartCount,
        delayMs: restart.delayMs,
      });
      // if this is lost, the reconciler finds the row restarting with no job and queues one
      await this.deps
        .scheduleRestart(restarting, restart.delayMs)
        .catch((err: unknown) => log.warn('could not queue a restart; the reconciler will', { id, error: describeError(err) }));
      return;
    }
    // a run nobody saw end, on a container its policy does not bring back: stopped, and why
    const settled =
      status.lost && c.state !== 'stopping'
        ? { state: 'stopped' as const, error: NODE_REBOOT }
        : { state: outcome.state, error: outcome.error };
    const updated = await containers.transition(id, [c.state], settled.state, { ...change, error: settled.error }, { pid: c.pid });
    if (updated)
      log.info('container exited', { container: c.name, id, exitCode: status.exitCode, signal: status.signal, state: updated.state });
    if (updated && updated.state !== 'running' && updated.state !== 'starting') await this.detach(c, { unlessStarted: true });
  }

  /**
   * Takes a container that no longer runs here out of the node's tables and gives its address
   * back. A failure is logged and left to the reconciler, unless `strict` (delete: the job is
   * retried rather than leave rules for an address the database will hand out again).
   * `unlessStarted` (exit, stop): not if the row has moved on to a new run meanwhile.
   */
  private async detach(c: ContainerRow, opts: { strict?: boolean; unlessStarted?: boolean } = {}): Promise<void> {
    if (!this.deps.network || c.network?.mode !== 'bridge') return;
    try {
      await this.deps.network.detach(c, opts.unlessStarted);
    } catch (err) {
      if (opts.strict) throw err;
      this.deps.log.warn('could not free a container network', { id: c.id, error: describeError(err) });
    }
  }
}
