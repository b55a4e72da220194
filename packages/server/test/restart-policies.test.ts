// Restart policies as Docker defines them, on real containers: a killed `always` container comes
// back with the same slice; on-failure gives up after maxRetries; a user's stop is respected until
// a start; and a simulated reboot (the launcher and every container process killed, then the
// worker started again) brings back what its policy says and records the rest as stopped.
import { join } from 'node:path';
import type { ContainerView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killProcessesInUidRange, launcherPidOf } from '../../native/test/helpers';
import { runCli } from '../../../e2e/support/system';
import { ADMIN_TOKEN, eventually, startTestFleet, type TestFleet } from './support/test-server';

const SLICE = 65536;
let fleet: TestFleet;

beforeAll(async () => {
  // the API alone, and one worker node this test can take down and bring back
  fleet = await startTestFleet({ role: 'api', slices: 16 });
  await fleet.addWorker('node-r');
}, 60_000);
afterAll(async () => fleet?.stop());

const get = (name: string) => fleet.admin.get<ContainerView>(`/containers/${name}`);
const inState = (name: string, state: string, timeoutMs = 20_000) =>
  eventually(
    async () => {
      const c = await get(name);
      return c.state === state ? c : undefined;
    },
    timeoutMs,
    `${name} ${state}`,
  );
const create = (name: string, extra: Record<string, unknown>) =>
  fleet.admin.post('/containers', { name, image: 'busybox', node: 'node-r', ...extra });

describe('restart policies', () => {
  it('brings a killed `always` container back at once with its slice, counting the restart', async () => {
    await create('always-1', { restartPolicy: { name: 'always' } });
    const first = await inState('always-1', 'running');
    expect(first).toMatchObject({ restartPolicy: { name: 'always' }, restartCount: 0, lastExit: null });
    await fleet.admin.post('/containers/always-1/exec', { command: ['/bin/sh', '-c', 'echo kept > /in-the-upper'] });
    const killedAt = Date.now();
    process.kill(first.pid!, 'SIGKILL');
    const again = await eventually(
      async () => {
        const c = await get('always-1');
        return c.state === 'running' && c.pid !== first.pid ? c : undefined;
      },
      10_000,
      'always-1 running again',
    );
    expect(Date.now() - killedAt).toBeLessThan(1_000);
    expect(again.restartCount).toBe(1);
    expect(again.lastExit).toMatchObject({ signal: 'SIGKILL', error: { code: 'KILLED' } });
    expect(again.idmap.uid).toEqual(first.idmap.uid);
    expect(again.idmap.uid[0]!.count).toBe(SLICE);
    // the writable layer is the same one
    const read = await fleet.admin.post<{ stdout: string }>('/containers/always-1/exec', { command: ['cat', '/in-the-upper'] });
    expect(read.stdout).toBe('kept\n');
  });

  it('gives up an on-failure container after maxRetries restarts, and never restarts a clean exit', async () => {
    await create('flaky', { restartPolicy: { name: 'on-failure', maxRetries: 2 }, command: ['/bin/sh', '-c', 'exit 3'] });
    await create('clean', { restartPolicy: { name: 'on-failure' }, command: ['/bin/true'] });
    const flaky = await eventually(
      async () => {
        const c = await get('flaky');
        return c.state === 'failed' && c.restartCount === 2 ? c : undefined;
      },
      15_000,
      'flaky failed after two restarts',
    );
    expect(flaky.exitCode).toBe(3);
    expect(flaky.lastExit).toMatchObject({ exitCode: 3, error: { code: 'EXITED' } });
    const clean = await inState('clean', 'stopped');
    await new Promise((r) => setTimeout(r, 500));
    expect((await get('clean')).restartCount).toBe(0);
    expect(clean.exitCode).toBe(0);
    // the backoff between flaky's runs doubles from 100 ms: still well under a second for two
    expect((await get('flaky')).restartCount).toBe(2);
    // a user's start begins the count afresh (as Docker's does): two more restarts, then failed
    await fleet.admin.post('/containers/flaky/start', {});
    await eventually(
      async () => {
        const c = await get('flaky');
        return c.state === 'failed' && c.restartCount === 2 && c.finishedAt !== flaky.finishedAt ? c : undefined;
      },
      15_000,
      'flaky failed again after two fresh restarts',
    );
    // its starts: two by the policy, the user's, and two more by the policy (without the reset: none)
    const { jobs } = await fleet.admin.get<{ jobs: Array<{ kind: string }> }>('/jobs?container=flaky');
    expect(jobs.filter((j) => j.kind === 'start')).toHaveLength(5);
  });

  it("shows the policy, its restarts, the last exit, the init and the stop in the CLI's info", async () => {
    const env = { NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN };
    const flaky = await runCli(['info', 'flaky'], env);
    expect(flaky.code, flaky.stderr).toBe(0);
    expect(flaky.stdout).toContain('restart: on-failure:2, 2 restart(s) by it');
    expect(flaky.stdout).toMatch(/^exited: {2}exit code 3, EXITED: .+ at \d{4}-\d\d-\d\dT/m);
    expect(flaky.stdout).toContain('init:    no');
    expect(flaky.stdout).toContain('stop:    SIGTERM, then SIGKILL after 10 s');

    const args = ['launch', 'cli-init', '--node', 'node-r', '--restart', 'always', '--init', '--stop-signal', 'int', '--stop-timeout', '3'];
    const launched = await runCli([...args, '--wait'], env);
    expect(launched.code, launched.stderr).toBe(0);
    const info = await runCli(['info', 'cli-init'], env);
    expect(info.stdout).toContain('restart: always, 0 restart(s) by it');
    expect(info.stdout).toContain('exited:  -');
    expect(info.stdout).toContain('init:    yes (tini as PID 1)');
    expect(info.stdout).toContain('stop:    SIGINT, then SIGKILL after 3 s');
    expect((await runCli(['delete', 'cli-init', '--force', '--wait'], env)).code).toBe(0);
  });

  it("respects a user's stop until a start, then restarts again", async () => {
    await create('kept', { restartPolicy: { name: 'unless-stopped' }, stopTimeoutSeconds: 0 });
    await inState('kept', 'running');
    const { job } = await fleet.admin.post<{ job: { id: string } }>('/containers/kept/stop', { timeoutSeconds: 0 });
    await fleet.admin.waitForJob(job.id);
    await new Promise((r) => setTimeout(r, 800));
    expect(await get('kept')).toMatchObject({ state: 'stopped', restartCount: 0 });
    await fleet.admin.post('/containers/kept/start', {});
    const started = await inState('kept', 'running');
    process.kill(started.pid!, 'SIGKILL');
    const back = await eventually(
      async () => {
        const c = await get('kept');
        return c.state === 'running' && c.pid !== started.pid ? c : undefined;
      },
      10_000,
      'kept running again',
    );
    expect(back.restartCount).toBe(1);
  });

  it('refuses maxRetries without on-failure, and an unknown policy', async () => {
    for (const restartPolicy of [{ name: 'always', maxRetries: 1 }, { name: 'sometimes' }]) {
      const res = await fetch(`${fleet.url}/api/v1/containers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fleet.admin.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bad', image: 'busybox', restartPolicy }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_INPUT');
    }
  });

  it('after a simulated reboot, starts always containers again and records the others stopped, leaking no slice', async () => {
    await create('boot-always', { restartPolicy: { name: 'always' } });
    await create('boot-no', {});
    const always = await inState('boot-always', 'running');
    await inState('boot-no', 'running');
    const [worker] = fleet.workers;
    const stateDir = join(fleet.dataDir, 'data', 'runtime', 'node-r');
    // the host goes down: the worker, its launcher and every container process
    await worker!.close();
    process.kill(launcherPidOf(stateDir), 'SIGKILL');
    killProcessesInUidRange(fleet.uidStart, fleet.uidStart + 16 * SLICE);
    fleet.workers.length = 0;
    await fleet.addWorker('node-r');
    const back = await eventually(
      async () => {
        const c = await get('boot-always');
        return c.state === 'running' && c.pid !== always.pid ? c : undefined;
      },
      20_000,
      'boot-always running after the reboot',
    );
    expect(back.idmap.uid).toEqual(always.idmap.uid);
    const stopped = await inState('boot-no', 'stopped');
    expect(stopped.error).toMatchObject({ code: 'NODE_REBOOT' });
    expect(stopped.lastExit).not.toBeNull();
    // every slice still held belongs to a container that exists, once each
    const { allocations } = await fleet.admin.get<{ allocations: Array<{ container: string }> }>('/allocations');
    const { containers } = await fleet.admin.get<{ containers: ContainerView[] }>('/containers');
    const names = new Set(containers.map((c) => c.name));
    expect(allocations.every((a) => names.has(a.container))).toBe(true);
    expect(new Set(allocations.map((a) => a.container)).size).toBe(allocations.length);
  });
});
