import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Job } from 'bullmq';
import { leaseFromRow, type Allocator, type Lease } from '@nagaya/allocator';
import { DEFAULT_RUN_OUTPUT_LIMIT_BYTES, type NetworkMode } from '@nagaya/contract';
import type { ContainerNetwork, ContainerRuntime, ExitStatus, LaunchPlan } from '@nagaya/native';
import { asNagayaError, NagayaError } from '../errors';
import type { ImageStore } from '../images/image-store';
import type { Logger } from '../observability/logger';
import { volumeIdsOf, type ContainerMounts } from '../services/container-mounts';
import { ImageRecordCache } from '../services/image-record-cache';
import type { NodeNetwork } from '../services/node-network';
import { processOptionsOf } from '../store/container-run';
import { NodeNotActiveError, type ContainerRow, type ContainerStore, type CreatedContainer } from '../store/container-store';
import type { RunResult, RunRow, RunSlice, RunStore } from '../store/run-store';
import { describeError } from './launch-decisions';
import { attemptResult, capturedOutput, failure } from './run-results';
import { runContainerRow } from './run-container-row';
import { recordAndRemove } from './run-settle';
import { reconcileRuns } from './run-reconcile';
import type { NodeVolumes } from './node-volumes';
import { EARLY_EXIT_MS, exitWithin } from './run-early-exit';
import { RunIntake } from './run-intake';
import { sendBack } from './run-send-back';
import type { RunJobData } from './run-queue';

/** How often a running attempt looks whether its run was cancelled. */
const CANCEL_POLL_MS = 250;
/** A run over its project's limit comes back after about this long. */
const PROJECT_BUSY_DELAY_MS = 200;
/** A full pool or quota is waited out this long, in steps, before the attempt fails. */
const CAPACITY_WAIT_MS = 60_000;
const CAPACITY_STEP_MS = 250;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type RunExit = ExitStatus;

export interface RunJobDeps {
  nodeName: string;
  pool: string;
  containers: ContainerStore;
  runs: RunStore;
  allocator: Allocator;
  runtime: ContainerRuntime;
  images: ImageStore;
  network?: NodeNetwork;
  /** Resolves a run's mounts for each attempt (a volume must be its project's and on this node). */
  mounts: ContainerMounts;
  /** This node's volume directories: an attempt mounts what its container row records. */
  volumes?: NodeVolumes;
  /** Queues a run in the runs queue of the node its volumes pin it to. */
  forward: (run: RunRow, queuedBefore: number) => Promise<void>;
  /** Takes a run put straight into the queue off its project's count of those not yet taken in. */
  directRunTakenIn: (project: string) => Promise<void>;
  log: Logger;
  defaultPidsMax: number;
  defaultNetworkMode: NetworkMode;
  /** Runs of one project running at once, fleet-wide. */
  projectConcurrency: number;
  /** Finished runs older than this are pruned by the reconciler. */
  retentionMs: number;
}

/**
 * One attempt ended: its result (and its container's row, when it got one; `exited` when its
 * process was seen to exit; `slice` when its start was not recorded, see EARLY_EXIT_MS), or the
 * run was cancelled under it.
 */
type AttemptOutcome = { result: RunResult; container?: ContainerRow; exited?: true; slice?: RunSlice } | { cancelled: true };

/**
 * Runs the jobs of the runs queue on this node: each attempt of a run gets a container of kind
 * 'run' (so quotas, placement guards and the reconciler see it) with a fresh slice, is launched
 * through packages/native with the launcher enforcing the timeout and capturing the output,
 * and once it exited its result goes into the run row and its container, directory and slice
 * go (the slice to quarantine). The run's result is written before its container is removed: a
 * worker killed in between leaves a container the reconciler removes, never a run redone.
 */
export class RunJobs {
  /** Set when the worker closes: the jobs in flight stop where they are and write nothing. */
  private abandoned = false;
  /** The image records runs are made from (a stale one is caught by the create's digest guard). */
  private readonly imageRecords: ImageRecordCache;
  private readonly intake: RunIntake;
  /** Containers of attempts in progress here, from their launch until their exit was waited for (see isAttemptInProgress). */
  private readonly inProgress = new Set<string>();

  constructor(private readonly deps: RunJobDeps) {
    this.imageRecords = new ImageRecordCache((project, name) => deps.images.visibleWithIdentities(project, name));
    this.intake = new RunIntake(deps);
  }

  /**
   * Lets go of the runs in flight (the worker is closing): each job stops where it is, writes
   * no result and never settles, so its lock lapses and the next worker takes its attempt up
   * from the launcher (RunJobs.resume). Its process keeps running meanwhile.
   */
  abandon(): void {
    this.abandoned = true;
  }

  /** Whether a container is an attempt launched here and waited for: its exit is settled by its run job, not ContainerExits. */
  isAttemptInProgress(containerId: string): boolean {
    return this.inProgress.has(containerId);
  }

  /** A promise that never settles: what a job waits on once its worker let go of it. */
  private letGo<T>(): Promise<T> {
    return new Promise<T>(() => undefined);
  }

  /** The BullMQ processor of the runs queue. */
  async process(job: Job<RunJobData>, token?: string): Promise<Record<string, unknown>> {
    const { runs, nodeName } = this.deps;
    // a run that came with its spec gets its row here; one pinned to another node goes there
    const taken = await this.intake.take(job);
    // behind its project's queued runs
    if ('requeue' in taken) return sendBack(job, token, 0, taken.requeue);
    if (!('runId' in taken)) return taken;
    const runId = taken.runId;
    const firstContainerId = randomUUID();
    const claimed = await runs.claim(runId, nodeName, this.deps.projectConcurrency, firstContainerId);
    // its project has its share running: back to the queue for a moment (it keeps its priority)
    if (claimed === 'busy') return sendBack(job, token, PROJECT_BUSY_DELAY_MS + Math.floor(Math.random() * PROJECT_BUSY_DELAY_MS));
    if (!claimed) return { skipped: 'the run has ended' };
    let run = claimed;
    let attempt = run.attempt;
    // a fresh claim began the attempt in firstContainerId already
    let begun: string | undefined;
    if (run.containerId === firstContainerId) {
      begun = firstContainerId;
      attempt = run.attempt - 1;
    } else if (run.containerId) {
      // an attempt a worker began and did not finish (it was killed): take up what it left
      const resumed = await this.resume(run);
      if (resumed === 'elsewhere') return { skipped: 'its attempt runs on another node; that node settles it' };
      if (resumed === 'ended') return { skipped: 'the run has ended' };
      if (resumed === 'redo') {
        attempt = run.attempt - 1; // that attempt never ran: it is made again
      } else if (resumed !== 'next') {
        const done = await this.settle(run, resumed);
        if (done) return done;
      }
    }
    for (;;) {
      attempt++;
      const outcome = await this.attempt(run, attempt, begun);
      begun = undefined;
      if ('cancelled' in outcome) return { cancelled: true };
      run = { ...run, attempt };
      const done = await this.settle(run, { containerId: run.containerId, ...outcome });
      if (done) return done;
    }
  }

  /**
   * Writes an attempt's result (final when it succeeded or no retry is left) and removes its
   * container. Returns the job's answer when the run is over, undefined when a retry follows.
   */
  private async settle(
    run: RunRow,
    ended: { containerId: string | null; result: RunResult; container?: ContainerRow; exited?: true; slice?: RunSlice },
  ): Promise<Record<string, unknown> | undefined> {
    if (this.abandoned) return this.letGo();
    const retriesLeft = run.attempt < (run.spec.retries ?? 0) + 1;
    const final = ended.result.state === 'succeeded' || !retriesLeft;
    const recorded = ended.containerId
      ? await recordAndRemove(this, this.deps, run.id, { ...ended, containerId: ended.containerId, exited: ended.exited === true }, final)
      : await this.deps.runs.finish(run.id, null, ended.result, final);
    // (one whose start was not recorded answers as attempt() does when its start finds the run gone)
    if (!recorded) return ended.slice ? { cancelled: true } : { skipped: 'the run was cancelled or settled meanwhile' };
    if (final) return { state: ended.result.state, exitCode: ended.result.exitCode };
    this.deps.log.info('run attempt failed; retrying in a fresh container', { run: run.id, attempt: run.attempt });
    return undefined;
  }

  /**
   * Takes up the attempt of a worker that died: waits for its process or reads its exit if it
   * is here; 'redo' when nothing of it ran (its container is removed first); 'elsewhere' when
   * it is another node's.
   */
  private async resume(
    run: RunRow,
  ): Promise<{ containerId: string; result: RunResult; exited: true } | 'redo' | 'next' | 'elsewhere' | 'ended'> {
    const { containers } = this.deps;
    const containerId = run.containerId!;
    const c = await containers.findById(containerId);
    if (!c) {
      // its container is gone: either it never was made, or its result is already written (a
      // worker killed between the result of an attempt to retry and the next attempt)
      const hasResult = run.exitCode !== null || run.signal !== null || run.timedOut || run.error !== null;
      return hasResult ? 'next' : 'redo';
    }
    if (c.node !== this.deps.nodeName) return 'elsewhere';
    const record = this.deps.runtime.hasRecord(containerId) ? this.deps.runtime.status(containerId) : undefined;
    if (record?.state === 'running' || record?.exit) {
      this.deps.log.info('taking up the attempt of a worker that died', { run: run.id, container: containerId });
      const exit = await this.waitForExit(run, c, record.exit);
      if (exit === 'cancelled') {
        await this.removeContainer(containerId);
        return 'ended';
      }
      return { containerId, result: this.resultOf(run, containerId, exit), exited: true };
    }
    await this.removeContainer(containerId);
    return 'redo';
  }

  /**
   * Makes, launches and waits for one attempt of the run, in a container of its own. `begun`:
   * the container id the claim already recorded for this attempt (no beginAttempt needed).
   */
  private async attempt(run: RunRow, attempt: number, begun?: string): Promise<AttemptOutcome> {
    const { runs, images, nodeName, log } = this.deps;
    const containerId = begun ?? randomUUID();
    if (!begun && !(await runs.beginAttempt(run.id, containerId, nodeName, attempt))) return { cancelled: true };
    run.containerId = containerId;
    let created: CreatedContainer;
    try {
      created = await this.createContainer(run, containerId);
    } catch (err) {
      log.warn('a run could not get its container', { run: run.id, error: describeError(err) });
      return { result: failure(describeError(err)) };
    }
    // the create made the row starting and gave it its slice (see CreateGuards.startWithDefaultLease)
    const row = created.row;
    let exit: RunExit | 'cancelled';
    try {
      const lease = created.lease
        ? leaseFromRow(created.lease, row.pool)
        : await this.deps.allocator.allocate({ owner: containerId, pool: row.pool, isolated: true });
      const layers = await images.layersForLaunch(row.project, row.image, created.image);
      let network: ContainerNetwork | undefined;
      if (row.network.mode === 'bridge') {
        if (!this.deps.network) throw new Error(`node ${nodeName} has no container network`);
        network = await this.deps.network.attach(row);
      }
      this.inProgress.add(containerId);
      const launched = await this.launch(run, row, lease, layers, network);
      const slice = { uidStart: lease.uidBase, uidCount: lease.size };
      // a short run has often exited by now: its start then goes with its result, in one statement
      const early = await exitWithin(this.deps.runtime, containerId, EARLY_EXIT_MS);
      if (early && !this.abandoned) return { result: this.resultOf(run, containerId, early), container: row, exited: true, slice };
      const started = await runs.recordStart(run.id, containerId, slice, { pid: launched.pid, startTime: launched.startTime });
      if (!started.recorded) {
        // cancelled while it was being made: it goes at once
        await this.removeContainer(containerId, row);
        return { cancelled: true };
      }
      // the runtime reads the records itself if the exit came before the wait
      exit = await this.waitForExit(run, row);
    } catch (err) {
      if (this.abandoned) return this.letGo();
      log.warn('a run attempt could not start', { run: run.id, container: containerId, error: describeError(err) });
      return { result: failure(describeError(err)) };
    } finally {
      this.inProgress.delete(containerId);
    }
    if (exit === 'cancelled') {
      await this.removeContainer(containerId, row);
      return { cancelled: true };
    }
    return { result: this.resultOf(run, containerId, exit), container: row, exited: true };
  }

  /**
   * Inserts the attempt's container row on this node (the project's quotas are checked by its
   * insert). A full pool or a quota at its limit is waited out a while: a flood of runs queues
   * behind them rather than fails.
   */
  private async createContainer(run: RunRow, containerId: string): Promise<CreatedContainer> {
    const { containers, images, nodeName, pool } = this.deps;
    const spec = run.spec;
    const until = Date.now() + CAPACITY_WAIT_MS;
    let freshImage = false;
    for (;;) {
      const image = await this.imageRecords.get(run.project, spec.image, { fresh: freshImage });
      if (!image) throw new NagayaError('INVALID_INPUT', `image ${spec.image} does not exist in project ${run.project}`);
      const { mounts, defaultPidsMax, defaultNetworkMode } = this.deps;
      const row = await runContainerRow(run, containerId, image, { node: nodeName, pool, mounts, defaultPidsMax, defaultNetworkMode });
      let refusal: string;
      try {
        const created = await containers.create(
          row,
          { launchJobId: containerId, queue: 'runs', actor: `run:${run.id}` },
          {
            image: { ...images.launchGuard(), digest: image.digest },
            freeSlot: true,
            volumes: volumeIdsOf(row.mounts),
            startWithDefaultLease: true,
          },
        );
        if (!('refused' in created)) return created;
        if (created.refused === 'image') throw new NagayaError('INVALID_INPUT', `image ${spec.image} does not exist`);
        if (created.refused === 'volume') throw new NagayaError('INVALID_INPUT', 'a volume it mounts was deleted meanwhile');
        refusal = created.refused;
        // the image changed since its record was read: read it afresh on the next turn
        freshImage = refusal === 'image-changed';
      } catch (err) {
        const code = asNagayaError(err)?.code;
        if (!(err instanceof NodeNotActiveError) && code !== 'QUOTA_EXCEEDED') throw err;
        refusal = code ?? 'node';
      }
      if (Date.now() > until) throw new NagayaError('POOL_EXHAUSTED', `no place for the run's container: ${refusal}`);
      if (!freshImage) await sleep(CAPACITY_STEP_MS);
    }
  }

  /** Launches the attempt's process, with the launcher enforcing its timeout and capturing its output. */
  private async launch(run: RunRow, c: ContainerRow, lease: Lease, layers: string[], network: ContainerNetwork | undefined) {
    const mounts = (await this.deps.volumes?.mountsFor(c)) ?? [];
    const plan: LaunchPlan = {
      id: c.id,
      layers,
      argv: c.command,
      env: c.env,
      ...processOptionsOf(c.run),
      hostname: c.name,
      uidMap: lease.maps.uid,
      gidMap: lease.maps.gid,
      limits: c.limits,
      security: { nesting: false },
      ...(network ? { network } : {}),
      ...(mounts.length ? { mounts } : {}),
      // the launcher kills it at its timeout (a busy worker cannot stretch it) and captures its output
      timeoutMs: run.spec.timeoutSeconds * 1000,
      outputLimitBytes: run.spec.outputLimitBytes ?? DEFAULT_RUN_OUTPUT_LIMIT_BYTES,
      ...(run.spec.stdin ? { stdin: Buffer.from(run.spec.stdin, 'base64') } : {}),
    };
    return this.deps.runtime.launch(plan);
  }

  /** Waits for the attempt's exit (the launcher enforces its timeout); kills it (SIGKILL) once its run is cancelled. */
  private async waitForExit(run: RunRow, c: ContainerRow, recordedExit?: RunExit): Promise<RunExit | 'cancelled'> {
    const { runtime, runs } = this.deps;
    if (recordedExit) return recordedExit;
    let cancelled = false;
    let done = false;
    const exited = runtime.wait(c.id);
    void exited.finally(() => (done = true)).catch(() => undefined);
    while (!done) {
      await Promise.race([exited.catch(() => undefined), sleep(CANCEL_POLL_MS)]);
      if (this.abandoned) return this.letGo();
      if (done || cancelled) continue;
      const now = await runs.find(run.id).catch(() => undefined);
      if (now && now.state !== 'running') {
        cancelled = true;
        await runtime.stop(c.id, 0).catch(() => undefined);
      }
    }
    const exit = await exited;
    return cancelled ? 'cancelled' : exit;
  }

  /** The attempt's result from its exit and the output the launcher captured. */
  private resultOf(run: RunRow, containerId: string, exit: RunExit): RunResult {
    return attemptResult(run, exit, capturedOutput(this.deps.runtime, containerId, this.deps.log));
  }

  /**
   * Removes an attempt's container: its process (SIGKILL), directory, network, slice (to
   * quarantine) and row. `known`: its row as the caller has it (saves reading it again).
   */
  async removeContainer(containerId: string, known?: ContainerRow): Promise<void> {
    const { runtime, containers, allocator, log } = this.deps;
    try {
      if (runtime.hasRecord(containerId)) {
        if (runtime.status(containerId).state === 'running') await runtime.stop(containerId, 0);
        const record = runtime.status(containerId);
        if (existsSync(record.dir)) await runtime.remove(containerId);
      }
      const row = known ?? (await containers.findById(containerId));
      if (row && this.deps.network && row.network.mode === 'bridge') await this.deps.network.detach(row);
      // the slice is freed only once the storage its IDs own is gone; slice and row go in one
      // statement, or, if that fails, apart, with the allocator's retries
      const gone = await containers.deleteReleasingSlice(containerId).catch(() => undefined);
      if (!gone) {
        await allocator.release(containerId);
        await containers.delete(containerId);
      }
    } catch (err) {
      // the reconciler removes what is left
      log.warn('could not remove a run container', { container: containerId, error: describeError(err) });
    }
  }

  /** The reconciler's part for runs on this node (see reconcileRuns). */
  reconcile(
    rows: ContainerRow[],
    queue: { jobState: (run: RunRow) => Promise<string>; requeue: (run: RunRow) => Promise<void> },
    graceMs: number,
  ): Promise<{ removed: number; settled: number; requeued: number }> {
    return reconcileRuns(this, this.deps, rows, queue, graceMs);
  }
}
