// Runs that mount volumes and host paths, on a real fleet of two nodes: the container rules hold
// (project, admin, read-only), a run goes to its volume's node, and a volume is kept while a run
// mounts it.
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, type ContainerView, type RunOutputView, type RunScheduleView, type RunView, type VolumeView } from '@nagaya/contract';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../allocator/test/support/test-services';
import { runCli } from '../../../e2e/support/system';
import type { ApiClient } from '../src/cli/api-client';
import { eventually, startTestFleet, waitRunning, type TestFleet } from './support/test-server';

let fleet: TestFleet;
let alpha: ApiClient;
let alphaToken: string;
let queue: Queue;
/** A host directory (outside the fleet's data directory) an admin's run may mount. */
let hostDir: string;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 32, quarantineSeconds: 0, env: { NAGAYA_RUN_CONCURRENCY: '4' } });
  await fleet.addWorker('node-b');
  for (const name of ['alpha', 'beta']) await fleet.admin.post('/projects', { name });
  const created = await fleet.admin.post<{ token: string }>('/tokens', { name: 'alpha-op', role: 'operator', project: 'alpha' });
  alphaToken = created.token;
  alpha = fleet.client(alphaToken);
  queue = new Queue('runs', { connection: { url: testRedisUrl() }, prefix: fleet.base.queuePrefix });
  hostDir = mkdtempSync(join(tmpdir(), 'nagaya-run-host-'));
  chmodSync(hostDir, 0o755);
  writeFileSync(join(hostDir, 'host-file'), 'from-host\n');
}, 60_000);
afterAll(async () => {
  await queue?.close();
  await fleet?.stop();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
});

const submit = async (spec: Record<string, unknown>, client: ApiClient = alpha) =>
  (await client.post<{ run: RunView }>('/runs', { image: 'busybox', timeoutSeconds: 30, ...spec })).run;
const waitFor = (id: string, seconds = 30) => alpha.get<RunView>(`/runs/${id}/wait?timeoutSeconds=${seconds}`);
const outputOf = (id: string) => alpha.get<RunOutputView>(`/runs/${id}/output`);
const refusalOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => (err instanceof ApiError ? { status: err.status, code: err.code, message: err.message } : err),
  );

describe('runs with volumes', () => {
  it("writes a file into a volume that a later run and a later container read, on the volume's node", async () => {
    const volume = await alpha.post<VolumeView>('/volumes', { name: 'results', node: 'node-a' });
    const writer = await submit({
      command: ['/bin/sh', '-c', 'echo from-run > /out/result && stat -c %u:%g /out/result'],
      mounts: [{ volume: 'results', path: '/out' }],
    });
    expect(writer.node).toBe('node-a'); // known from its submission: its volume's node
    const written = await waitFor(writer.id);
    expect(written).toMatchObject({ state: 'succeeded', node: 'node-a' });
    expect((await outputOf(writer.id)).stdout).toBe('0:0\n');
    // on the disk: container-relative owners, as a container's write leaves them
    expect(readFileSync(join(fleet.base.dataDir, 'volumes', 'alpha', volume.id, 'result'), 'utf8')).toBe('from-run\n');

    const reader = await submit({ command: ['cat', '/in/result'], mounts: [{ volume: 'results', path: '/in', readOnly: true }] });
    expect(await waitFor(reader.id)).toMatchObject({ state: 'succeeded', node: 'node-a' });
    expect((await outputOf(reader.id)).stdout).toBe('from-run\n');

    await alpha.post('/containers', { name: 'later', image: 'busybox', mounts: [{ volume: 'results', path: '/data' }] });
    await waitRunning<ContainerView>(fleet, 'later?project=alpha'); // the admin reads it in alpha
    const read = await alpha.post<{ stdout: string }>('/containers/later/exec', { command: ['cat', '/data/result'] });
    expect(read.stdout).toBe('from-run\n');
    await alpha.delete('/containers/later?force=1');
  }, 90_000);

  it('takes --mount in nagaya run as launch does', async () => {
    const env = { NAGAYA_URL: fleet.url, NAGAYA_TOKEN: alphaToken, NAGAYA_PROJECT: 'alpha' };
    const read = await runCli(['run', 'busybox', '--mount', 'volume:results:/in:ro', '--', 'cat', '/in/result'], env);
    expect(read).toMatchObject({ code: 0, stdout: 'from-run\n' });
    const bad = await runCli(['run', 'busybox', '--mount', 'results:/in', '--', 'true'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--mount wants volume:NAME:\/path\[:ro\]/);
    const host = await runCli(['run', 'busybox', '--mount', `host:${hostDir}:/h`, '--', 'true'], env);
    expect(host.code).not.toBe(0);
    expect(host.stderr).toMatch(/hostPath mount needs an admin token/);
  }, 60_000);

  it('refuses a write through a read-only mount', async () => {
    await alpha.post('/volumes', { name: 'frozen', node: 'node-a' });
    const run = await submit({
      command: ['/bin/sh', '-c', 'echo no > /ro/f'],
      mounts: [{ volume: 'frozen', path: '/ro', readOnly: true }],
    });
    expect(await waitFor(run.id)).toMatchObject({ state: 'failed', exitCode: 1 });
    expect((await outputOf(run.id)).stderr).toMatch(/Read-only file system/);
  });

  it('keeps a volume while a run mounts it: its delete is 409 until the run is gone', async () => {
    await alpha.post('/volumes', { name: 'busy', node: 'node-a' });
    const run = await submit({ command: ['sleep', '60'], mounts: [{ volume: 'busy', path: '/busy' }] });
    await eventually(async () => ((await alpha.get<RunView>(`/runs/${run.id}`)).slice ? true : undefined), 30_000);
    expect(await refusalOf(alpha.delete('/volumes/busy'))).toMatchObject({ status: 409, code: 'CONFLICT' });
    expect((await alpha.get<VolumeView>('/volumes/busy')).mountedBy).toEqual([
      { container: expect.stringMatching(/^run-/) as unknown, path: '/busy', readOnly: false },
    ]);
    await alpha.delete(`/runs/${run.id}`);
    await eventually(
      () =>
        alpha.delete('/volumes/busy').then(
          () => true,
          () => undefined,
        ),
      15_000,
      'volume deleted',
    );
  }, 60_000);

  it('keeps a volume that a queued run names: 409 naming the run until it is cancelled; the run shows its mounts', async () => {
    await alpha.post('/volumes', { name: 'later', node: 'node-a' });
    const run = await submit({ command: ['true'], delaySeconds: 600, mounts: [{ volume: 'later', path: '/later', readOnly: true }] });
    const view = await alpha.get<RunView>(`/runs/${run.id}`);
    expect([view.state, view.mounts]).toEqual(['queued', [{ volume: 'later', path: '/later', readOnly: true }]]);
    const refused = await refusalOf(alpha.delete('/volumes/later'));
    expect(refused).toMatchObject({
      status: 409,
      code: 'CONFLICT',
      message: `volume later is mounted by run ${run.id} (queued or running)`,
    });
    await alpha.delete(`/runs/${run.id}`);
    await alpha.delete('/volumes/later');
  }, 60_000);

  it("refuses another project's volume exactly as a missing one", async () => {
    await fleet.admin.post('/volumes?project=beta', { name: 'secret', node: 'node-a' });
    const other = await refusalOf(submit({ command: ['true'], mounts: [{ volume: 'secret', path: '/s' }] }));
    const missing = await refusalOf(submit({ command: ['true'], mounts: [{ volume: 'nothing', path: '/s' }] }));
    expect(other).toEqual({ status: 400, code: 'INVALID_INPUT', message: 'volume secret does not exist in project alpha' });
    expect(missing).toEqual({ status: 400, code: 'INVALID_INPUT', message: 'volume nothing does not exist in project alpha' });
  });

  it("runs a run that mounts node B's volume on node B, every time", async () => {
    await alpha.post('/volumes', { name: 'on-b', node: 'node-b' });
    const runs = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((i) =>
        submit({ command: ['/bin/sh', '-c', `echo ${i} >> /b/log`], mounts: [{ volume: 'on-b', path: '/b' }] }),
      ),
    );
    const done = await Promise.all(runs.map((r) => waitFor(r.id)));
    expect(done.map((r) => [r.state, r.node])).toEqual(done.map(() => ['succeeded', 'node-b']));
    const all = await submit({ command: ['cat', '/b/log'], mounts: [{ volume: 'on-b', path: '/b' }] });
    await waitFor(all.id);
    expect((await outputOf(all.id)).stdout.trim().split('\n').sort()).toEqual(['1', '2', '3', '4', '5', '6']);
  }, 90_000);

  it("runs each tick of a schedule that mounts node B's volume on node B", async () => {
    const made = await alpha.post<{ schedule: RunScheduleView }>('/runs', {
      image: 'busybox',
      command: ['/bin/sh', '-c', 'echo tick >> /b/ticks'],
      timeoutSeconds: 30,
      mounts: [{ volume: 'on-b', path: '/b' }],
      schedule: '*/1 * * * * *',
    });
    const ticks = await eventually(
      async () => {
        const { runs } = await alpha.get<{ runs: RunView[] }>('/runs?limit=500');
        const ended = runs.filter((r) => r.scheduleId === made.schedule.id && r.finishedAt);
        return ended.length >= 2 ? ended : undefined;
      },
      20_000,
      'two ticks of the schedule',
    );
    await alpha.delete(`/runs/schedules/${made.schedule.id}`);
    expect(ticks.map((r) => [r.state, r.node])).toEqual(ticks.map(() => ['succeeded', 'node-b']));
  }, 60_000);

  it("sends a run put straight into the shared queue on to its volume's node; refuses a host path or another project's volume there", async () => {
    const direct = async (spec: Record<string, unknown>) => {
      const runId = randomUUID();
      await queue.add('run', { project: 'alpha', runId, spec: { image: 'busybox', timeoutSeconds: 30, ...spec } }, { jobId: runId });
      return runId;
    };
    const onB = await direct({ command: ['cat', '/b/log'], mounts: [{ volume: 'on-b', path: '/b' }] });
    const ran = await eventually(async () => {
      const r = await alpha.get<RunView>(`/runs/${onB}`).catch(() => undefined);
      return r?.finishedAt ? r : undefined;
    }, 30_000);
    expect(ran).toMatchObject({ state: 'succeeded', node: 'node-b' });

    const hostPath = await direct({ command: ['true'], mounts: [{ hostPath: hostDir, path: '/t' }] });
    const foreign = await direct({ command: ['true'], mounts: [{ volume: 'secret', path: '/s' }] });
    for (const [id, why] of [
      [hostPath, /hostPath mount needs an admin token/],
      [foreign, /volume secret does not exist in project alpha/],
    ] as const) {
      const result = await eventually(async () => {
        const job = await queue.getJob(id);
        return job?.finishedOn ? job.returnvalue : undefined;
      }, 15_000);
      expect(result).toMatchObject({ skipped: expect.stringMatching(why) as unknown });
      expect(await refusalOf(alpha.get(`/runs/${id}`))).toMatchObject({ code: 'NOT_FOUND' });
    }
  }, 60_000);
});

describe('a run pinned to a node whose worker is away', () => {
  it("waits in that node's runs queue, whether submitted through the API or forwarded from the shared queue; a cancel withdraws it", async () => {
    const nodeC = await fleet.addWorker('node-c');
    await alpha.post('/volumes', { name: 'on-c', node: 'node-c' });
    await nodeC.close(); // node-c's volume stays; nothing takes node-c's runs until it is back
    const queueC = new Queue('runs-node-c', { connection: { url: testRedisUrl() }, prefix: fleet.base.queuePrefix });
    try {
      const viaApi = await submit({ command: ['true'], mounts: [{ volume: 'on-c', path: '/c' }] });
      expect(viaApi).toMatchObject({ state: 'queued', node: 'node-c' });
      expect(await queueC.getJobState(viaApi.id)).toMatch(/^(waiting|prioritized)$/);

      const direct = randomUUID();
      const spec = { image: 'busybox', command: ['true'], timeoutSeconds: 30, mounts: [{ volume: 'on-c', path: '/c' }] };
      await queue.add('run', { project: 'alpha', runId: direct, spec }, { jobId: direct });
      const forwarded = await eventually(async () => {
        const job = await queue.getJob(direct);
        return job?.finishedOn ? job.returnvalue : undefined;
      }, 15_000);
      expect(forwarded).toEqual({ forwarded: 'node-c' });
      expect(await alpha.get<RunView>(`/runs/${direct}`)).toMatchObject({ state: 'queued', node: 'node-c' });
      expect(await queueC.getJobState(direct)).toMatch(/^(waiting|prioritized)$/);

      for (const id of [viaApi.id, direct]) {
        expect((await alpha.delete<RunView>(`/runs/${id}`)).state).toBe('cancelled');
        expect(await queueC.getJobState(id)).toBe('unknown');
      }
    } finally {
      await queueC.close();
    }
  }, 60_000);
});

describe('runs with host paths', () => {
  it("is 403 for an operator's host path, as for a container", async () => {
    const refused = await refusalOf(submit({ command: ['true'], mounts: [{ hostPath: '/srv', path: '/srv' }] }));
    expect(refused).toMatchObject({ status: 403, code: 'FORBIDDEN' });
  });

  it("refuses the host paths a container may not mount, even an admin's; and a scheduled run's", async () => {
    const admin = (spec: Record<string, unknown>) => submit({ command: ['true'], ...spec }, fleet.admin);
    for (const hostPath of ['/', '/proc/sys', fleet.base.dataDir, join(fleet.base.dataDir, 'volumes')]) {
      expect([hostPath, await refusalOf(admin({ mounts: [{ hostPath, path: '/h' }] }))]).toMatchObject([
        hostPath,
        { status: 400, code: 'INVALID_INPUT' },
      ]);
    }
    const scheduled = await refusalOf(admin({ mounts: [{ hostPath: hostDir, path: '/h' }], schedule: '* * * * *' }));
    expect(scheduled).toMatchObject({ status: 400, code: 'INVALID_INPUT', message: 'a scheduled run cannot mount a host path' });
  });

  it("mounts an admin's host path as it is, read-only when asked", async () => {
    const run = await submit(
      {
        command: ['/bin/sh', '-c', 'cat /h/host-file; stat -c %u /h/host-file; touch /h/x 2>&1; grep " /h " /proc/self/mountinfo'],
        mounts: [{ hostPath: hostDir, path: '/h', readOnly: true }],
      },
      fleet.admin,
    );
    const done = await fleet.admin.get<RunView>(`/runs/${run.id}/wait?timeoutSeconds=30`);
    expect(done.state).toBe('succeeded');
    const out = (await fleet.admin.get<RunOutputView>(`/runs/${run.id}/output`)).stdout.split('\n');
    expect(out[0]).toBe('from-host');
    expect(out[1]).toBe('65534'); // owned by the host's root, unshifted: nobody inside
    expect(out[2]).toMatch(/Read-only file system/);
    expect(out[3]).toMatch(/(^|[ ,])ro[ ,]/);
  }, 60_000);

  it("idmaps an admin's host path with shift, as a volume: its owners 0..65535 are the run's own", async () => {
    const run = await submit(
      {
        command: ['/bin/sh', '-c', 'stat -c %u:%g /h/host-file && echo mine > /h/from-run && grep " /h " /proc/self/mountinfo'],
        mounts: [{ hostPath: hostDir, path: '/h', shift: true }],
      },
      fleet.admin,
    );
    expect((await fleet.admin.get<RunView>(`/runs/${run.id}/wait?timeoutSeconds=30`)).state).toBe('succeeded');
    const [owner, mount] = (await fleet.admin.get<RunOutputView>(`/runs/${run.id}/output`)).stdout.split('\n');
    expect(owner).toBe('0:0');
    expect(mount).toMatch(/idmapped/);
    const written = statSync(join(hostDir, 'from-run'));
    expect([written.uid, written.gid]).toEqual([0, 0]); // the run's root wrote it: host 0 through the idmap
  }, 60_000);
});
