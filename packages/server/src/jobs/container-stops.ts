import { existsSync } from 'node:fs';
import { DelayedError, type Job } from 'bullmq';
import { DEFAULT_STOP_TIMEOUT_SECONDS } from '@nagaya/contract';
import type { ExitStatus, StopSignalName } from '@nagaya/native';
import type { ContainerRow } from '../store/container-store';
import { detachNetwork, type ContainerJobDeps } from './container-job-deps';
import type { LifecycleJobData } from './job-types';
import { describeError, isStoppable } from './launch-decisions';

/** How long a stop job waits in its slot for a process that exits on its signal. */
const QUICK_EXIT_MS = 100;
/** A stop job comes back this long after the grace time (the launcher's SIGKILL is done by then), and then as often. */
const STOP_RECHECK_MS = 250;
/** A stop still running this long after its grace time is sent again (its launcher may have died with the first). */
const STOP_RESEND_AFTER_MS = 5_000;

/** A stop or delete job and its lock: what lets it wait for an exit without holding a worker slot. */
export interface WaitingJob {
  job: Job<LifecycleJobData>;
  token: string | undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Stop and delete jobs on this node: the container's process ended (without holding a worker slot through its grace time), then its row. */
export class ContainerStops {
  constructor(private readonly deps: ContainerJobDeps) {}

  /** Stops a container (from pending, starting, running or restarting): its process ended, its row stopped with how it exited. */
  async stop(c: ContainerRow, timeoutSeconds?: number, waiting?: WaitingJob): Promise<Record<string, unknown>> {
    const { containers } = this.deps;
    if (!isStoppable(c.state)) return { skipped: `the container is ${c.state}` };
    // from pending: nothing runs yet, and the launch job will find the row no longer pending
    await containers.transition(c.id, ['running', 'starting', 'pending', 'restarting'], 'stopping');
    const status = await this.stopProcess(c, timeoutSeconds, waiting);
    // nothing runs now: its address and rules go before the row says stopped
    await detachNetwork(this.deps, c, { unlessStarted: true });
    await containers.transition(c.id, ['stopping', 'running', 'starting', 'pending', 'restarting'], 'stopped', {
      pid: null,
      exitCode: status?.exitCode ?? null,
      exitSignal: status?.signal ?? null,
      finishedAt: new Date(),
      error: null,
    });
    return { exitCode: status?.exitCode ?? null, signal: status?.signal ?? null };
  }

  /** Deletes a container: its process ended, its directory and network rules gone, its slice released, then its row. */
  async delete(c: ContainerRow, timeoutSeconds?: number, waiting?: WaitingJob): Promise<Record<string, unknown>> {
    const { containers, runtime, allocator, log } = this.deps;
    await containers.transition(c.id, [], 'deleting');
    await this.stopProcess(c, timeoutSeconds, waiting);
    const record = runtime.status(c.id);
    if (existsSync(record.dir)) await runtime.remove(c.id);
    // its rules go before its row (the lease row goes with it, by cascade)
    await detachNetwork(this.deps, c, { strict: true });
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
}
