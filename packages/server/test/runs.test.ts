// Runs on a real fleet: each attempt in a fresh container with a fresh slice, its result kept
// after the container and the slice are gone; timeouts, cancel, stdin, output caps, retries.
import type { RunOutputView, RunView } from '@nagaya/contract';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../allocator/test/support/test-services';
import { runCli } from '../../../e2e/support/system';
import { ADMIN_TOKEN, eventually, startTestFleet, type TestFleet } from './support/test-server';

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 32, quarantineSeconds: 0, env: { NAGAYA_RUN_CONCURRENCY: '4' } });
}, 60_000);
afterAll(async () => fleet?.stop());

const submit = async (spec: Record<string, unknown>) =>
  (await fleet.admin.post<{ run: RunView }>('/runs', { image: 'busybox', timeoutSeconds: 30, ...spec })).run;
const waitFor = (id: string, seconds = 30) => fleet.admin.get<RunView>(`/runs/${id}/wait?timeoutSeconds=${seconds}`);
const outputOf = (id: string) => fleet.admin.get<RunOutputView>(`/runs/${id}/output`);

/** Containers of runs still there, and slices still held (active leases). */
async function leftovers(): Promise<{ containers: number; leases: number }> {
  const c = await fleet.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM container WHERE kind = 'run'`);
  const l = await fleet.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM id_lease`);
  return { containers: c.rows[0]!.n, leases: l.rows[0]!.n };
}

describe('runs', () => {
  it('runs a command in a fresh container, keeps its exit and output, and leaves nothing behind', async () => {
    const run = await submit({ command: ['/bin/sh', '-c', 'echo hello; id -u; exit 3'] });
    expect(run.state).toBe('queued');
    const done = await waitFor(run.id);
    expect(done).toMatchObject({ state: 'failed', exitCode: 3, timedOut: false, attempt: 1 });
    expect(done.slice?.uidCount).toBe(65536);
    expect(done.node).toBe('node-a');
    const out = await outputOf(run.id);
    expect(out.stdout).toBe('hello\n0\n');
    await eventually(async () => ((await leftovers()).containers === 0 && (await leftovers()).leases === 0 ? true : undefined), 5_000);
    const listed = await fleet.admin.get<{ containers: unknown[] }>('/containers?kind=run');
    expect(listed.containers).toEqual([]);
  });

  it('ends a run at its timeout: timedOut within 1.5 s', async () => {
    const run = await submit({ command: ['sleep', '60'], timeoutSeconds: 1 });
    const started = await eventually(async () => {
      const r = await fleet.admin.get<RunView>(`/runs/${run.id}`);
      return r.startedAt ? r : undefined;
    });
    const done = await waitFor(run.id, 10);
    expect(done.state).toBe('timedOut');
    expect(done.timedOut).toBe(true);
    expect(new Date(done.finishedAt!).getTime() - new Date(started.startedAt!).getTime()).toBeLessThan(1_500);
  });

  it('cancels a running run: killed, state cancelled, its container and slice gone', async () => {
    const run = await submit({ command: ['sleep', '60'] });
    await eventually(async () => ((await leftovers()).containers === 1 ? true : undefined));
    await eventually(async () => ((await fleet.admin.get<RunView>(`/runs/${run.id}`)).slice ? true : undefined));
    // its container is the run's: listed with ?kind=run only, and acted on through the run
    const [container] = (await fleet.admin.get<{ containers: Array<{ name: string }> }>('/containers?kind=run')).containers;
    expect((await fleet.admin.get<{ containers: Array<{ name: string }> }>('/containers')).containers).toEqual([]);
    await expect(fleet.admin.delete(`/containers/${container!.name}?force=true`)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(fleet.admin.post(`/containers/${container!.name}/stop`)).rejects.toMatchObject({ code: 'CONFLICT' });
    const cancelled = await fleet.admin.delete<RunView>(`/runs/${run.id}`);
    expect(cancelled.state).toBe('cancelled');
    await eventually(async () => {
      const left = await leftovers();
      return left.containers === 0 && left.leases === 0 ? true : undefined;
    }, 5_000);
    expect((await fleet.admin.get<RunView>(`/runs/${run.id}`)).state).toBe('cancelled');
    await expect(fleet.admin.delete(`/runs/${run.id}`)).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it("answers a wait at its run's end: one begun before the end is woken by it, one begun after answers at once", async () => {
    // a wait that missed the end would answer at its next recheck, 2 s later
    const timed = async (id: string, seconds = 30) => {
      const t = Date.now();
      const view = await waitFor(id, seconds);
      return { view, ms: Date.now() - t };
    };
    const early = await submit({ command: ['/bin/sh', '-c', 'sleep 0.2'] });
    const woken = await timed(early.id);
    expect(woken.view).toMatchObject({ state: 'succeeded', exitCode: 0 });
    expect(woken.view.slice?.uidCount).toBe(65536);
    expect(woken.ms).toBeLessThan(1_500);
    const late = await submit({ command: ['true'] });
    await eventually(async () => ((await fleet.admin.get<RunView>(`/runs/${late.id}`)).finishedAt ? true : undefined));
    const atOnce = await timed(late.id);
    expect(atOnce.view).toMatchObject({ state: 'succeeded', exitCode: 0 });
    expect(atOnce.ms).toBeLessThan(1_000);
    // timeoutSeconds 0: the run as it is, at once
    const zero = await submit({ command: ['sleep', '5'] });
    const now = await timed(zero.id, 0);
    expect(now.view.finishedAt).toBeNull();
    expect(now.ms).toBeLessThan(1_000);
    await fleet.admin.delete(`/runs/${zero.id}`);
  });

  it('answers the submit itself with the ended run when asked to wait (Prefer: wait), and with the run as it is when the wait runs out', async () => {
    const post = (spec: Record<string, unknown>, prefer?: string) =>
      fetch(`${fleet.url}/api/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(prefer ? { prefer } : {}) },
        body: JSON.stringify({ image: 'busybox', timeoutSeconds: 30, ...spec }),
      });
    const quick = await post({ command: ['/bin/sh', '-c', 'echo waited; exit 4'] }, 'respond-async, wait=20');
    expect([quick.status, quick.headers.get('preference-applied')]).toEqual([200, 'wait=20']);
    const ended = ((await quick.json()) as { run: RunView }).run;
    expect(ended).toMatchObject({ state: 'failed', exitCode: 4 });
    expect(ended.finishedAt).not.toBeNull();
    expect((await outputOf(ended.id)).stdout).toBe('waited\n');
    // a run longer than the wait: 202 once the wait is over, the run still running
    const started = Date.now();
    const slow = await post({ command: ['sleep', '30'] }, 'wait=1');
    expect([slow.status, slow.headers.get('preference-applied')]).toEqual([202, 'wait=1']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(5_000);
    const running = ((await slow.json()) as { run: RunView }).run;
    expect(running.finishedAt).toBeNull();
    await fleet.admin.delete(`/runs/${running.id}`);
    // no wait asked, or a preference that does not parse: 202 at once, as before
    for (const prefer of [undefined, 'wait=soon', 'handling=lenient']) {
      const plain = await post({ command: ['sleep', '30'] }, prefer);
      expect([plain.status, plain.headers.get('preference-applied')]).toEqual([202, null]);
      await fleet.admin.delete(`/runs/${((await plain.json()) as { run: RunView }).run.id}`);
    }
  });

  it('delivers stdin, and keeps stdout and stderr apart', async () => {
    const stdin = Buffer.from('line one\nline two\n').toString('base64');
    const run = await submit({ command: ['/bin/sh', '-c', 'cat; echo oops >&2'], stdin });
    expect((await waitFor(run.id)).state).toBe('succeeded');
    const out = await outputOf(run.id);
    expect(out).toMatchObject({ stdout: 'line one\nline two\n', stderr: 'oops\n', stdoutTruncated: false });
  });

  it('truncates output over its cap and flags it, counting every byte', async () => {
    const run = await submit({ command: ['/bin/sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" x'], outputLimitBytes: 1000 });
    const done = await waitFor(run.id);
    expect(done).toMatchObject({ state: 'succeeded', stdoutTruncated: true, stdoutBytes: 100000, stderrTruncated: false });
    const out = await fleet.admin.get<RunOutputView>(`/runs/${run.id}/output?encoding=base64`);
    expect(Buffer.from(out.stdout, 'base64').toString()).toBe('x'.repeat(1000));
  });

  it('shows the output so far of a running run, and follows it to the end in the CLI', async () => {
    const run = await submit({ command: ['/bin/sh', '-c', 'echo first; sleep 2; echo second'] });
    const soFar = await eventually(async () => {
      const o = await outputOf(run.id);
      return o.state === 'running' && o.stdout === 'first\n' ? o : undefined;
    });
    expect(soFar.stdoutBytes).toBe(6);
    const env = { NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN };
    const followed = await runCli(['runs', 'output', run.id, '--follow'], env);
    expect(followed).toMatchObject({ code: 0, stdout: 'first\nsecond\n' });
    expect((await fleet.admin.get<RunView>(`/runs/${run.id}`)).state).toBe('succeeded');
  });

  it('retries a failed run in a fresh container with a fresh slice', async () => {
    const run = await submit({ command: ['/bin/sh', '-c', 'exit 7'], retries: 2 });
    const done = await waitFor(run.id);
    expect(done).toMatchObject({ state: 'failed', exitCode: 7, attempt: 3 });
  });

  it('gives the first run back for a repeated idempotency key', async () => {
    const a = await submit({ command: ['true'], idempotencyKey: 'once-1' });
    const b = await submit({ command: ['true'], idempotencyKey: 'once-1' });
    expect(b.id).toBe(a.id);
    expect((await waitFor(a.id)).state).toBe('succeeded');
  });

  it('starts a run with delaySeconds only after its delay', async () => {
    const run = await submit({ command: ['true'], delaySeconds: 2 });
    const done = await waitFor(run.id);
    expect(done.state).toBe('succeeded');
    expect(new Date(done.startedAt!).getTime() - new Date(done.createdAt).getTime()).toBeGreaterThanOrEqual(2_000);
  });

  it('queues again a queued run whose job Redis lost (the reconciler)', async () => {
    const run = await submit({ command: ['true'], delaySeconds: 3600 });
    const queue = new Queue('runs', { connection: { url: testRedisUrl() }, prefix: fleet.base.queuePrefix });
    try {
      await queue.remove(run.id);
      expect(await queue.getJobState(run.id)).toBe('unknown');
    } finally {
      await queue.close();
    }
    await fleet.db.pool.query(`UPDATE run SET created_at = now() - interval '1 minute' WHERE id = $1`, [run.id]);
    expect((await fleet.api.worker!.reconciler.run()).runsRequeued).toBe(1);
    expect((await waitFor(run.id)).state).toBe('succeeded');
  });

  it('prunes runs finished longer ago than NAGAYA_RUN_RETENTION', async () => {
    const run = await submit({ command: ['true'] });
    await waitFor(run.id);
    await fleet.db.pool.query(`UPDATE run SET finished_at = now() - interval '8 days' WHERE id = $1`, [run.id]);
    await fleet.api.worker!.reconciler.run();
    await expect(fleet.admin.get(`/runs/${run.id}`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("counts a run in its project's quotas while it runs: over the quota, a run waits for a place", async () => {
    await fleet.admin.post('/projects', { name: 'small', quotas: { containers: 1 } });
    const post = (command: string[]) =>
      fleet.admin.post<{ run: RunView }>('/runs?project=small', { image: 'busybox', command, timeoutSeconds: 30 });
    const first = (await post(['sleep', '1'])).run;
    const second = (await post(['true'])).run;
    const [a, b] = await Promise.all(
      [first, second].map((r) => fleet.admin.get<RunView>(`/runs/${r.id}/wait?timeoutSeconds=30&project=small`)),
    );
    expect([a!.state, b!.state]).toEqual(['succeeded', 'succeeded']);
    // one container at a time: the second started only once the first had ended
    expect(new Date(b!.finishedAt!).getTime()).toBeGreaterThanOrEqual(new Date(a!.finishedAt!).getTime());
  });

  it('is 404 from another project, and refuses what it cannot honour', async () => {
    const run = await submit({ command: ['true'] });
    await fleet.admin.post('/projects', { name: 'other-p' });
    await expect(fleet.admin.get(`/runs/${run.id}?project=other-p`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(submit({ command: ['true'], timeoutSeconds: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(submit({ command: ['true'], image: 'nope' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it("nagaya run waits, prints the output and exits with the run's code; --detach prints the id; runs list|info|output|cancel", async () => {
    const env = { NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN };
    const ran = await runCli(['run', 'busybox', '--', '/bin/sh', '-c', 'echo out; echo err >&2; exit 4'], env);
    expect(ran).toMatchObject({ code: 4, stdout: 'out\n', stderr: 'err\n' });
    const timedOut = await runCli(['run', 'busybox', '--timeout', '1', '--', 'sleep', '30'], env);
    expect(timedOut.code).toBe(124);
    const detached = await runCli(['run', 'busybox', '--detach', '--', 'sleep', '30'], env);
    expect(detached.code).toBe(0);
    const id = detached.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const listed = await runCli(['runs', 'list', '--json'], env);
    expect((JSON.parse(listed.stdout) as RunView[]).map((r) => r.id)).toContain(id);
    const info = await runCli(['runs', 'info', id], env);
    expect(info.stdout).toMatch(/image: +busybox/);
    const cancelled = await runCli(['runs', 'cancel', id], env);
    expect(cancelled.stdout).toBe(`run ${id}: cancelled\n`);
    const echoed = (await runCli(['run', 'busybox', '-d', '--', 'echo', 'out'], env)).stdout.trim();
    await waitFor(echoed);
    const output = await runCli(['runs', 'output', echoed], env);
    expect(output.stdout).toBe('out\n');
  });
});
