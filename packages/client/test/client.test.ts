// @nagaya/client against a real fleet: a run submitted straight into the runs queue gives the
// same result as one submitted through the REST API.
import { Queue } from 'bullmq';
import type { RunView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../allocator/test/support/test-services';
import { ADMIN_TOKEN, startTestFleet, type TestFleet } from '../../server/test/support/test-server';
import { NagayaClient, RUNS_QUEUE, type RunsQueueLike } from '../src/index';

let fleet: TestFleet;
let queue: Queue;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 8, quarantineSeconds: 0 });
  queue = new Queue(RUNS_QUEUE, { connection: { url: testRedisUrl() }, prefix: fleet.base.queuePrefix });
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
