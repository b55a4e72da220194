import { existsSync } from 'node:fs';
import { UnrecoverableError, type Job } from 'bullmq';
import { DEFAULT_STOP_TIMEOUT_SECONDS } from '@nagaya/contract';
import type { Lease } from '@nagaya/allocator';
import { processHasIdMaps, type ContainerNetwork, type IdMapLine } from '@nagaya/native';
import { noNetworkHere } from '../services/node-network';
import { allocatorKey } from '../services/sticky-key';
import { processOptionsOf } from '../store/container-run';
import type { ContainerRow, LaunchImage } from '../store/container-store';
import { detachNetwork, type ContainerJobDeps } from './container-job-deps';
import type { ContainerExits } from './container-exits';
import type { LifecycleJobData } from './job-types';
import type { LaunchMount } from './node-volumes';
import {
  adoptionCandidate,
  describeError,
  failedStartOutcome,
  isPermanent,
  jobOwnsLease,
  relaunchAfter,
  yieldToRequest,
} from './launch-decisions';

interface IdMaps {
  uid: IdMapLine[];
  gid: IdMapLine[];
}

/**
 * The start of a container on this node (launch, start, restart, a policy's restart): allocate the
 * slice, find the image, spawn through packages/native (or adopt what an earlier attempt spawned),
 * record pid and state. A failed start gives back what it took (the slice, the container directory)
 * before it is retried or marked failed.
 */
export class ContainerLaunch {
  constructor(
    private readonly deps: ContainerJobDeps,
    private readonly exits: ContainerExits,
  ) {}

  /** Starts a container already moved to `starting` (with its lease when the claim took it). */
  async start(job: Job<LifecycleJobData>, c: ContainerRow, leased?: Lease, image?: LaunchImage): Promise<Record<string, unknown>> {
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
          await detachNetwork(this.deps, c, { unlessStarted: true });
          return { skipped: yielded.skipped };
        }
      }
      // A run that ended before the row said running (`true`) had its exit event ignored (no pid
      // recorded yet, see applyExit): settle it from the launcher's record now. While the
      // runtime still awaits the run's exit event, the event is to come and finds the pid.
      if (!runtime.awaitsExit(c.id)) {
        const record = runtime.status(c.id);
        if (record.exit) await this.exits.applyExit(c.id, { ...record.exit, pid: launched.pid });
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
      if (releaseLease && existsSync(record.dir)) await runtime.remove(c.id);
    } catch (err) {
      log.warn('cleanup after a failed start', { id: c.id, error: describeError(err) });
    }
    await detachNetwork(this.deps, c);
    if (!releaseLease) return;
    // A release that fails (its dependency is down) fails the cleanup too: the row then stays
    // starting instead of becoming failed with its slice still taken, and the reconciler gives
    // it its job again, which replays the lease and ends it properly.
    await allocator.release(c.id).catch((err: unknown) => {
      log.warn('release after a failed start', { id: c.id, error: describeError(err) });
      throw err;
    });
  }
}
