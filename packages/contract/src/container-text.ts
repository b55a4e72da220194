// How a container's lifecycle settings are written for people, the same in the CLI and the dashboard (zod-free).

import type { LastExitView, RestartPolicyView } from './views';

/** A restart policy as `--restart` takes it: `always`, `on-failure:3`, `on-failure` (no limit). */
export function restartPolicyText(policy: RestartPolicyView): string {
  return policy.maxRetries === undefined ? policy.name : `${policy.name}:${policy.maxRetries}`;
}

/** How a run ended, without its time: "exit code 1", "signal SIGKILL", and the error's code and message if it failed to run. */
export function lastExitText(exit: LastExitView): string {
  const how = [
    exit.exitCode !== null ? `exit code ${exit.exitCode}` : '',
    exit.signal ? `signal ${exit.signal}` : '',
    exit.error ? `${exit.error.code}: ${exit.error.message}` : '',
  ].filter(Boolean);
  return how.length ? how.join(', ') : 'ended';
}

/** What a stop does: the first signal, then SIGKILL after the grace time (a SIGKILL first has no grace). */
export function stopText(stopSignal: string, stopTimeoutSeconds: number): string {
  return stopSignal === 'SIGKILL' ? 'SIGKILL at once' : `${stopSignal}, then SIGKILL after ${stopTimeoutSeconds} s`;
}
