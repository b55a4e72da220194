import { randomUUID } from 'node:crypto';
import type { RunOutputView, RunScheduleView, RunState, RunView } from '@nagaya/contract';
import type { CreateRunInput } from '@nagaya/contract/schemas';
import { asNagayaError, NagayaError } from '../errors';
import type { JobQueues } from '../jobs/job-queues';
import type { RunOutputSoFar } from '../jobs/job-types';
import type { RunQueue } from '../jobs/run-queue';
import type { AuditStore } from '../store/audit-store';
import type { ProjectStore } from '../store/project-store';
import { runView, type RunRow, type RunSpec, type RunStore } from '../store/run-store';
import type { TokenIdentity } from '../store/token-store';
import { mountsHostPath, type ContainerMounts } from './container-mounts';
import type { ImageRecordCache } from './image-record-cache';
import type { RunWaiters } from './run-waiters';

/** How long the output so far of a running run is waited for from its node. */
const OUTPUT_SO_FAR_TIMEOUT_MS = 5_000;
/**
 * How often a long poll reads its run again without being woken: the run's end wakes it (its
 * run.state event); this catches one whose event went by while the event stream reconnected.
 */
const WAIT_RECHECK_MS = 2000;

export interface RunServiceDeps {
  runs: RunStore;
  queue: RunQueue;
  queues: JobQueues;
  /** The image records the API reads (shared with ContainerService: one cache, one read per image every few seconds). */
  imageRecords: ImageRecordCache;
  /** Resolves a run's mounts as a container create's (volumes pin the run to their node). */
  mounts: ContainerMounts;
  audit: AuditStore;
  /** Asked after a schedule is made: one made while its project was deleted is taken back. */
  projects: Pick<ProjectStore, 'exists'>;
  /** Wakes long polls when their run ends; without it they read their run every WAIT_RECHECK_MS. */
  waiters?: RunWaiters;
}

/** What the runs routes do: submit (or schedule), read, wait for and cancel runs of a project. */
export class RunService {
  constructor(private readonly deps: RunServiceDeps) {}

  /**
   * Records a queued run and queues it (or, with `schedule`, makes a schedule that submits it on
   * each tick). A second submission with the same idempotency key gets the first run.
   */
  async submit(project: string, input: CreateRunInput, actor: TokenIdentity): Promise<{ run: RunView } | { schedule: RunScheduleView }> {
    const { runs, queue, audit } = this.deps;
    // The mounts by a container's rules: volumes of the project (INVALID_INPUT for one it has
    // not), on one node, which the run is pinned to; host paths checked as far as the API can.
    // The worker resolves them again for each attempt (a volume may go meanwhile).
    const mounts = await this.deps.mounts.resolve(project, input.mounts, undefined);
    if (input.schedule !== undefined && mountsHostPath(input.mounts)) {
      // a schedule's ticks reach the worker through Redis, with no token behind them
      throw new NagayaError('INVALID_INPUT', 'a scheduled run cannot mount a host path', { field: 'mounts' });
    }
    // a cached record may be a few seconds old: the worker refuses a run whose image went meanwhile
    if (!(await this.deps.imageRecords.get(project, input.image))) {
      throw new NagayaError('INVALID_INPUT', `image ${input.image} does not exist in project ${project}`, { field: 'image' });
    }
    queue.assertReady();
    const { schedule, delaySeconds, idempotencyKey, ...spec } = input;
    const priority = input.priority ?? 0;
    if (schedule !== undefined) {
      const made = await queue.schedule(project, spec satisfies RunSpec, schedule, priority);
      // a schedule lives in Redis, beyond the project row's lock: if the project went while it
      // was made, take it back (the delete route sweeps the ones made before it committed)
      if (!(await this.deps.projects.exists(project))) {
        await queue.unschedule(project, made.id).catch(() => undefined);
        throw new NagayaError('NOT_FOUND', `no project named ${project}`);
      }
      await audit.record(actor, project, 'run.schedule', made.id, { pattern: schedule, image: spec.image });
      return { schedule: made };
    }
    const { row, created, queuedBefore } = await runs.create({
      id: randomUUID(),
      project,
      spec,
      priority,
      ...(idempotencyKey ? { idempotencyKey } : {}),
      ...(mounts.node !== undefined ? { node: mounts.node } : {}),
      auditActor: actor.name,
    });
    if (!created) return { run: runView(row) };
    // before it is queued, so before anything can end it (see RunWaiters.unended)
    this.deps.waiters?.submittedHere(row.id, project);
    try {
      await queue.submit(row, queuedBefore, delaySeconds);
    } catch (err) {
      await runs.fail(row.id, { code: 'UNAVAILABLE', message: 'the runs queue refused it' }).catch(() => undefined);
      throw (
        asNagayaError(err) ??
        new NagayaError('UNAVAILABLE', `the job queue is unavailable: ${(err as Error).message}`, { dependency: 'redis' })
      );
    }
    return { run: runView(row) };
  }

  async get(project: string, id: string): Promise<RunView> {
    return runView(await this.row(project, id));
  }

  async list(filter: { project: string | undefined; state?: RunState; since?: string; limit?: number }): Promise<RunView[]> {
    const rows = await this.deps.runs.list({
      ...(filter.project ? { project: filter.project } : {}),
      ...(filter.state ? { state: filter.state } : {}),
      ...(filter.since ? { since: new Date(filter.since) } : {}),
      limit: filter.limit ?? 100,
    });
    return rows.map(runView);
  }

  /** Waits up to `timeoutSeconds` for the run to end; answers with the run as it is then. */
  async wait(project: string, id: string, timeoutSeconds: number): Promise<RunView> {
    const until = Date.now() + timeoutSeconds * 1000;
    let woken = false;
    let wakeNow: (() => void) | undefined;
    // listening before the first read: an end between the read and the wait is not missed
    const stop = this.deps.waiters?.add(id, () => {
      woken = true;
      wakeNow?.();
    });
    try {
      // a run submitted here that the event hub has not seen end needs no first read: its end wakes this wait
      let unread = timeoutSeconds > 0 && this.deps.waiters?.unended(id, project) === true;
      for (;;) {
        woken = false;
        if (!unread) {
          const row = await this.row(project, id);
          if (row.finishedAt !== null || Date.now() >= until) return runView(row);
          if (woken) continue;
        }
        unread = false;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(WAIT_RECHECK_MS, Math.max(1, until - Date.now())));
          wakeNow = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeNow = undefined;
      }
    } finally {
      stop?.();
    }
  }

  /** The run's output, as text (invalid UTF-8 replaced) or base64. */
  async output(project: string, id: string, encoding: 'utf8' | 'base64' = 'utf8'): Promise<RunOutputView> {
    const row = await this.deps.runs.output(id, project);
    if (!row) throw notFound(project, id);
    const text = (b: Buffer | null) => (b ?? Buffer.alloc(0)).toString(encoding);
    if (row.state === 'running' && row.containerId && row.node) {
      // still running: what it has written so far, read on its node (a client follows by asking again)
      const soFar = await this.deps.queues
        .call<RunOutputSoFar>(row.node, { kind: 'run-output', containerId: row.containerId }, OUTPUT_SO_FAR_TIMEOUT_MS)
        .catch(() => undefined);
      if (soFar) {
        const decoded = (b64: string) => text(Buffer.from(b64, 'base64'));
        return {
          id,
          state: row.state,
          encoding,
          stdout: decoded(soFar.stdout),
          stderr: decoded(soFar.stderr),
          stdoutBytes: soFar.stdoutBytes,
          stderrBytes: soFar.stderrBytes,
          stdoutTruncated: soFar.stdoutTruncated,
          stderrTruncated: soFar.stderrTruncated,
        };
      }
    }
    return {
      id,
      state: row.state,
      encoding,
      stdout: text(row.stdout),
      stderr: text(row.stderr),
      stdoutBytes: row.stdoutBytes,
      stderrBytes: row.stderrBytes,
      stdoutTruncated: row.stdoutTruncated,
      stderrTruncated: row.stderrTruncated,
    };
  }

  /**
   * Cancels a run: a queued one leaves the queue; a running one is killed by its worker (which
   * looks at its run while it waits) and its container removed. CONFLICT once it has ended.
   */
  async cancel(project: string, id: string, actor: TokenIdentity): Promise<RunView> {
    const cancelled = await this.deps.runs.cancel(id, project);
    if (!cancelled) {
      const row = await this.row(project, id);
      throw new NagayaError('CONFLICT', `run ${id} has already ended: it is ${row.state}`, { state: row.state });
    }
    if (cancelled.was === 'queued') await this.deps.queue.withdraw(id, cancelled.node);
    await this.deps.audit.record(actor, project, 'run.cancel', id, { was: cancelled.was });
    return this.get(project, id);
  }

  async schedules(project: string | undefined): Promise<RunScheduleView[]> {
    return this.deps.queue.schedules(project);
  }

  /**
   * Removes every schedule of a project that was just deleted: one made between the delete's
   * count of schedules and its commit (see ProjectStore.delete). Returns how many went.
   */
  async dropSchedulesOf(project: string): Promise<number> {
    const left = await this.deps.queue.schedules(project);
    for (const s of left) await this.deps.queue.unschedule(project, s.id).catch(() => undefined);
    return left.length;
  }

  async unschedule(project: string, id: string, actor: TokenIdentity): Promise<void> {
    await this.deps.queue.unschedule(project, id);
    await this.deps.audit.record(actor, project, 'run.unschedule', id, {});
  }

  private async row(project: string, id: string): Promise<RunRow> {
    const row = await this.deps.runs.find(id, project);
    if (!row) throw notFound(project, id);
    return row;
  }
}

function notFound(project: string, id: string): NagayaError {
  return new NagayaError('NOT_FOUND', `no run ${id} in project ${project}`);
}
