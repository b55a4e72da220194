// @nagaya/client against a real fleet: a run submitted straight into the runs queue gives the
// same result as one submitted through the REST API.
import { Queue } from 'bullmq';
import type { RunView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../allocator/test/support/test-services';
import { ADMIN_TOKEN, eventually, startTestFleet, type TestFleet } from '../../server/test/support/test-server';
import { NagayaClient, RUNS_QUEUE, type RunsQueueLike } from '../src/index';

let fleet: TestFleet;
let queue: Queue;

beforeAll(async () => {
  fleet = await startTestFleet({
    slices: 8,
    quarantineSeconds: 0,
    env: { NAGAYA_RUN_CONCURRENCY: '2', NAGAYA_RUN_PROJECT_CONCURRENCY: '2' },
  });
  queue = new Queue(RUNS_QUEUE, { connection: { url: testRedisUrl() }, prefix: fleet.base.queuePrefix });
  for (const name of ['proj-a', 'proj-b', 'proj-c']) await fleet.admin.post('/projects', { name });
}, 60_000);
afterAll(async () => {
  await queue?.close();
  await fleet?.stop();
});

const spec = {
  image: 'busybox',
  command: ['/bin/sh', '-c', 'echo $WHO; cat; echo err >&2; exit 2'],
  env: { WHO: 'client' },
  stdin: Buffer.from('piped\n').toString('base64'),
  timeoutSeconds: 30,
};

describe('@nagaya/client', () => {
  it('gives the same result through the queue as through REST', async () => {
    const rest = new NagayaClient({ url: fleet.url, token: ADMIN_TOKEN, project: 'default' });
    const direct = new NagayaClient({ url: fleet.url, token: ADMIN_TOKEN, project: 'default', queue: queue as unknown as RunsQueueLike });
    const [a, b] = await Promise.all([rest.submitRun(spec), direct.submitRun(spec)]);
    const [ra, rb] = await Promise.all([rest.waitForRun(a.id, 60), direct.waitForRun(b.id, 60)]);
    const pick = (r: RunView) => ({ state: r.state, exitCode: r.exitCode, stdoutBytes: r.stdoutBytes, image: r.image, command: r.command });
    expect(pick(rb)).toEqual(pick(ra));
    expect(pick(ra)).toMatchObject({ state: 'failed', exitCode: 2 });
    const [oa, ob] = await Promise.all([rest.output(a.id), direct.output(b.id)]);
    expect(ob.stdout.toString()).toBe('client\npiped\n');
    expect(oa.stdout.toString()).toBe(ob.stdout.toString());
    expect(oa.stderr.toString()).toBe('err\n');
  });

  it('checks a spec with the API schema before it sends it, and the worker checks what came through Redis', async () => {
    const direct = new NagayaClient({ url: fleet.url, token: ADMIN_TOKEN, project: 'default', queue: queue as unknown as RunsQueueLike });
    await expect(direct.submitRun({ ...spec, timeoutSeconds: 0 })).rejects.toThrow();
    // a job written by hand with a hostile spec makes no run
    const id = '00000000-0000-4000-8000-000000000001';
    await queue.add('run', { project: 'default', runId: id, spec: { image: 'busybox', command: [], timeoutSeconds: 5 } }, { jobId: id });
    const job = await queue.getJob(id);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await job!.getState()).toBe('completed');
    expect(((await queue.getJob(id))!.returnvalue as { skipped: string }).skipped).toMatch(/refused/);
    await expect(fleet.admin.get(`/runs/${id}`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('fair share of runs put straight into the queue', () => {
  const directIn = (project: string) =>
    new NagayaClient({ url: fleet.url, token: ADMIN_TOKEN, project, queue: queue as unknown as RunsQueueLike });
  const quick = { image: 'busybox', command: ['true'], timeoutSeconds: 60 };
  /** The count of a project's direct submissions not yet taken in by a worker. */
  const pending = async (project: string) =>
    Number((await (await queue.backend.client).get(queue.toKey(`direct-pending:${project}`))) ?? 0);
  const runsLeft = async () =>
    (await fleet.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM run WHERE state IN ('queued', 'running')`)).rows[0]!.n;

  it("gives B's single run, put in after A's 500, its turn before A's 50th; the counts of runs not yet taken in go back to zero", async () => {
    const a = directIn('proj-a');
    const aIds: string[] = [];
    for (let i = 0; i < 500; i += 25)
      aIds.push(...(await Promise.all(Array.from({ length: 25 }, () => a.submitRun(quick)))).map((r) => r.id));
    expect(await pending('proj-a')).toBeGreaterThan(400); // a worker takes two at a time
    const b = directIn('proj-b');
    const bDone = await b.waitForRun((await b.submitRun(quick)).id, 120);
    expect(bDone.state).toBe('succeeded');
    const aFinishedBefore = await fleet.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM run WHERE project = 'proj-a' AND finished_at IS NOT NULL AND finished_at < $1`,
      [bDone.finishedAt],
    );
    expect(aFinishedBefore.rows[0]!.n).toBeLessThan(50);
    expect(await pending('proj-b')).toBe(0);
    // the rest of A's is not this test's business: the jobs still waiting go, the runs with rows are cancelled
    for (const id of aIds) await queue.remove(id).catch(() => undefined);
    const { rows } = await fleet.db.pool.query<{ id: string }>(
      `SELECT id FROM run WHERE project = 'proj-a' AND state IN ('queued', 'running')`,
    );
    await Promise.all(rows.map((r) => fleet.admin.delete(`/runs/${r.id}?project=proj-a`).catch(() => undefined)));
    await eventually(async () => ((await runsLeft()) === 0 ? true : undefined), 30_000, 'no run left queued or running');
  }, 180_000);

  it("puts a direct run behind its project's runs queued through the API, as the API would have", async () => {
    const c = directIn('proj-c');
    const rest = (command: string[]) =>
      fleet.admin.post<{ run: RunView }>('/runs?project=proj-c', { ...quick, command }).then((r) => r.run);
    // both run slots of the node busy, then ten queued through the API
    const blockers = await Promise.all([rest(['sleep', '2']), rest(['sleep', '2'])]);
    await eventually(async () => {
      const states = await Promise.all(blockers.map((r) => fleet.admin.get<RunView>(`/runs/${r.id}?project=proj-c`)));
      return states.every((r) => r.state === 'running') ? true : undefined;
    });
    const queued: RunView[] = [];
    for (let i = 0; i < 10; i++) queued.push(await rest(['true']));
    // counted alone, it would go second (its client sees no direct run of proj-c before it)
    const direct = await c.submitRun(quick);
    const directDone = await c.waitForRun(direct.id, 120);
    expect(directDone.state).toBe('succeeded');
    const restDone = await Promise.all(queued.map((r) => fleet.admin.get<RunView>(`/runs/${r.id}/wait?timeoutSeconds=60&project=proj-c`)));
    const lastRestStart = Math.max(...restDone.map((r) => new Date(r.startedAt!).getTime()));
    expect(new Date(directDone.startedAt!).getTime()).toBeGreaterThanOrEqual(lastRestStart);
    expect(await pending('proj-c')).toBe(0);
    await eventually(async () => ((await runsLeft()) === 0 ? true : undefined), 30_000, 'no run left queued or running');
  }, 120_000);
});
