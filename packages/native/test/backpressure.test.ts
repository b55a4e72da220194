import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ContainerRuntime } from '@nagaya/native';

import { launcherPidOf, openTestRuntime, sleep } from './helpers';

const REQUESTS = 40_000;

describe('a launcher that falls behind', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('backpressure'));
  });
  afterAll(async () => {
    await cleanup();
  });

  it('gets every request once it catches up: a full socket queues them instead of failing', async () => {
    const launcherPid = launcherPidOf(stateDir);
    // A stopped launcher reads nothing: its socket fills (the connection asks for a 16 MiB send
    // buffer, some 16,000 small messages), as it would while it works through a burst of stops.
    process.kill(launcherPid, 'SIGSTOP');
    let answers: Array<PromiseSettledResult<unknown>>;
    try {
      const requests = Array.from({ length: REQUESTS }, (_, i) => (i % 2 === 0 ? runtime.running() : runtime.kill(`absent-${i}`, 15)));
      await sleep(300);
      process.kill(launcherPid, 'SIGCONT');
      answers = await Promise.allSettled(requests);
    } finally {
      process.kill(launcherPid, 'SIGCONT');
    }
    const failures = answers.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    // lists come back empty; kills of containers that do not exist come back as such, never as "cannot reach the launcher"
    expect(answers.filter((a, i) => i % 2 === 0 && a.status === 'fulfilled' && Array.isArray(a.value))).toHaveLength(REQUESTS / 2);
    expect(failures).toHaveLength(REQUESTS / 2);
    expect(failures.filter((f) => /cannot reach the launcher/.test(String(f.reason?.message)))).toEqual([]);
    expect(new Set(failures.map((f) => (f.reason as { code?: string }).code))).toEqual(new Set(['ESRCH']));
  });
});
