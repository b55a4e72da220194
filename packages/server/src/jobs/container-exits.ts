import type { ExitStatus } from '@nagaya/native';
import { detachNetwork, type ContainerJobDeps } from './container-job-deps';
import { describeError, exitOutcome, restartDecision } from './launch-decisions';

/** Why a container whose run nobody saw end (and that its policy does not restart) is stopped. */
const NODE_REBOOT = {
  code: 'NODE_REBOOT',
  message: "its process was gone when its node's worker looked again (the host rebooted, or its launcher was killed with it)",
};

/** How this node's containers' runs end: each exit the launcher reports settles the row, or restarts it by its policy. */
export class ContainerExits {
  constructor(private readonly deps: ContainerJobDeps) {}

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
    if (updated && updated.state !== 'running' && updated.state !== 'starting') await detachNetwork(this.deps, c, { unlessStarted: true });
  }
}
