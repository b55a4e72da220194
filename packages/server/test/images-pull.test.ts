// Pulls through the API, as jobs on a real worker, from real registries on 127.0.0.1: one with
// htpasswd (Basic), one behind a token service (Bearer). The fleet has a registry of its own
// too, so a pulled image is pushed on to it as an import is. Nothing reaches the network.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { ContainerView, ImagePullView, ImageView, JobView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueues, lifecycleQueueName } from '../src/jobs/job-queues';
import { buildImage, busyboxImage, layerOf, nodeArch, type FixtureImage } from '../../native/test/support/oci-fixtures';
import { startLocalRegistry, type LocalRegistry } from './support/local-registry';
import { pushFixture, pushIndex, registryClient } from './support/push-fixture';
import { eventually, startTestFleet, waitRunning, type TestFleet } from './support/test-server';
import { refusal } from './support/test-helpers';

let basic: LocalRegistry;
let bearer: LocalRegistry;
let fleetRegistry: LocalRegistry;
/** An open registry behind a proxy that can break a blob's download off (see breakingProxy). */
let open: LocalRegistry;
let flaky: BreakingProxy;
let fleet: TestFleet;
let redis: Redis;
let image: FixtureImage;

const layersDir = () => join(fleet.base.dataDir, 'images', '.oci', 'layers', 'sha256');
const pullsDir = () => join(fleet.base.dataDir, 'images', '.oci', 'pulls');
const listing = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

/** Waits for a job to end, and returns its view. */
async function finished(id: string): Promise<JobView> {
  return eventually(
    async () => {
      const job = await fleet.admin.get<JobView>(`/jobs/${id}`);
      return job.state === 'completed' || job.state === 'failed' ? job : undefined;
    },
    60_000,
    `job ${id} finished`,
  );
}

interface BreakingProxy {
  host: string;
  /** The next full GET of a blob whose path ends so sends this many bytes of it and then breaks the connection. */
  breakNext(digest: string, afterBytes: number): void;
  /** The Range header (or 'whole') of every GET of that blob, oldest first. */
  gets(digest: string): string[];
  stop(): Promise<void>;
}

/** A proxy to `target` that breaks one download off part way, as a link that drops does. */
async function breakingProxy(target: LocalRegistry): Promise<BreakingProxy> {
  const [targetHost, targetPort] = target.host.split(':') as [string, string];
  const breaks = new Map<string, number>();
  const seen = new Map<string, string[]>();
  const server: Server = createServer((req, res) => {
    const digest = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '')?.[1];
    if (digest && req.method === 'GET') seen.set(digest, [...(seen.get(digest) ?? []), req.headers.range ?? 'whole']);
    const cut = digest && !req.headers.range ? breaks.get(digest) : undefined;
    if (cut !== undefined) breaks.delete(digest!);
    const upstream = httpRequest(
      { host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (cut === undefined) return void answer.pipe(res);
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= cut) return;
          const part = chunk.subarray(0, cut - sent);
          sent += part.length;
          res.write(part, () => {
            if (sent >= cut) res.socket?.destroy();
          });
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    breakNext: (digest, afterBytes) => void breaks.set(digest, afterBytes),
    gets: (digest) => seen.get(digest) ?? [],
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Records a node that went offline an hour ago (no worker reads its queues), and the fleet's queues, to put a pull there. */
async function queuesWithGoneNode(node: string): Promise<JobQueues> {
  await fleet.db.pool.query(
    `INSERT INTO node (name, heartbeat_at, started_at, version, info, status)
     VALUES ($1, now() - interval '1 hour', now() - interval '1 hour', 'test', '{}', 'offline')`,
    [node],
  );
  return new JobQueues(redis, fleet.base.queuePrefix, fleet.api.db);
}

beforeAll(async () => {
  [basic, bearer, fleetRegistry, open] = await Promise.all([
    startLocalRegistry('basic'),
    startLocalRegistry('bearer'),
    startLocalRegistry(),
    startLocalRegistry(),
  ]);
  flaky = await breakingProxy(open);
  fleet = await startTestFleet({
    slices: 8,
    env: {
      NAGAYA_REGISTRY_URL: fleetRegistry.url,
      NAGAYA_INSECURE_REGISTRIES: [basic.host, bearer.host, flaky.host].join(','),
    },
  });
  redis = new Redis(fleet.base.redisUrl, { lazyConnect: true });
  await redis.connect();
  image = busyboxImage('pulled\n', { Cmd: ['/bin/sh', '-c', 'echo the-image-cmd-ran; exec /bin/busybox sleep 1000'] });
  await pushFixture(basic, 'lib/tiny', 'v1', image);
  await pushFixture(bearer, 'lib/tiny', 'v1', image);
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await fleet?.stop();
  await flaky?.stop();
  await Promise.all([basic, bearer, fleetRegistry, open].map((r) => r?.stop()));
});

describe('POST /images/pull', () => {
  it('pulls by tag with Basic auth as a job whose bytes reach the total, records it with its digest and pushes it to the fleet registry', async () => {
    const { username, password } = basic.credentials!;
    const started = await fleet.admin.post<ImagePullView>('/images/pull', {
      reference: `${basic.host}/lib/tiny:v1`,
      auth: { username, password },
    });
    expect(started.image).toEqual({ project: 'default', name: 'tiny:v1' });
    const job = await finished(started.job.id);
    expect(job).toMatchObject({ kind: 'pull', image: 'tiny:v1', container: null, state: 'completed', progress: 100, error: null });
    const total = image.layers.reduce((sum, l) => sum + l.blob.length, 0);
    expect([job.bytesDone, job.bytesTotal]).toEqual([total, total]);

    const view = await fleet.admin.get<ImageView>('/images/tiny:v1');
    expect(view).toMatchObject({
      format: 'registry',
      digest: image.manifestDigest,
      reference: `${basic.host}/lib/tiny:v1@${image.manifestDigest}`,
      nodes: ['node-a'],
    });
    expect(view.layers.map((l) => l.diffId)).toEqual(image.layers.map((l) => l.diffId));
    // on to the fleet's registry, as an import would be
    expect((await registryClient(fleetRegistry).manifest('nagaya/default/tiny', 'v1')).digest).toBe(image.manifestDigest);
    // the layout is gone, and so are the credentials from the job BullMQ keeps
    expect(listing(pullsDir())).toEqual([]);
    const data = await redis.hget(`${fleet.base.queuePrefix}:${lifecycleQueueName('node-a')}:${started.job.id}`, 'data');
    expect(JSON.parse(data!)).toEqual({
      kind: 'pull',
      project: 'default',
      name: 'tiny:v1',
      reference: `${basic.host}/lib/tiny:v1`,
      credentialsDropped: true,
    });
    expect(data).not.toContain(password);
  }, 90_000);

  it("launches the pulled image with its config's Cmd", async () => {
    await fleet.admin.post('/containers', { name: 'from-pull', image: 'tiny:v1' });
    await waitRunning<ContainerView>(fleet, 'from-pull');
    await eventually(async () => {
      const { log } = await fleet.admin.get<{ log: string }>('/containers/from-pull/logs');
      return log.includes('the-image-cmd-ran') ? log : undefined;
    }, 20_000);
  }, 60_000);

  it('pulls by digest through the Bearer token flow, named after the repository with tag latest', async () => {
    const before = bearer.tokensIssued();
    const started = await fleet.admin.post<ImagePullView>('/images/pull', {
      reference: `${bearer.host}/lib/tiny@${image.manifestDigest}`,
      auth: bearer.credentials,
    });
    expect(started.image.name).toBe('tiny:latest');
    const job = await finished(started.job.id);
    expect(job.state, job.error ?? '').toBe('completed');
    expect(bearer.tokensIssued()).toBeGreaterThan(before);
    const view = await fleet.admin.get<ImageView>('/images/tiny:latest');
    expect(view.reference).toBe(`${bearer.host}/lib/tiny@${image.manifestDigest}`);
    expect(view.digest).toBe(image.manifestDigest);
  }, 90_000);

  it('fails the job with IMAGE_UNAVAILABLE on wrong credentials, recording and leaving nothing', async () => {
    const other = buildImage([layerOf([{ name: 'only-here', body: 'x' }])]);
    await pushFixture(basic, 'lib/secret', 'v1', other);
    const layersBefore = listing(layersDir());
    for (const registry of [basic, bearer]) {
      if (registry === bearer) await pushFixture(bearer, 'lib/secret', 'v1', other);
      const started = await fleet.admin.post<ImagePullView>('/images/pull', {
        reference: `${registry.host}/lib/secret:v1`,
        name: 'secret',
        auth: { username: registry.credentials!.username, password: 'wrong' },
      });
      const job = await finished(started.job.id);
      expect(job.state).toBe('failed');
      expect(job.error).toMatch(/^IMAGE_UNAVAILABLE: /);
      expect((await refusal(fleet.admin.get('/images/secret'))).code).toBe('NOT_FOUND');
    }
    // a registry nobody answers for
    const unreachable = await fleet.admin.post<ImagePullView>('/images/pull', { reference: '127.0.0.1:1/lib/secret:v1', name: 'secret' });
    const job = await finished(unreachable.job.id);
    expect([job.state, job.error]).toEqual(['failed', expect.stringMatching(/^IMAGE_UNAVAILABLE: /)]);
    expect(listing(layersDir())).toEqual(layersBefore);
    expect(listing(pullsDir())).toEqual([]);
  }, 90_000);

  it('retries a failed pull that had no credentials, and refuses to retry one whose credentials are gone', async () => {
    const withAuth = await fleet.admin.post<ImagePullView>('/images/pull', {
      reference: `${basic.host}/lib/nothing-here:v1`,
      name: 'nothing-here',
      auth: { username: basic.credentials!.username, password: 'wrong' },
    });
    expect((await finished(withAuth.job.id)).state).toBe('failed');
    const refused = await refusal(fleet.admin.post(`/jobs/${withAuth.job.id}/retry`, {}));
    expect({ code: refused.code, message: refused.message }).toEqual({
      code: 'CONFLICT',
      message: `job ${withAuth.job.id} pulled with credentials, which are not kept: start the pull again with them`,
    });
    const without = await fleet.admin.post<ImagePullView>('/images/pull', {
      reference: '127.0.0.1:1/lib/nothing-here:v1',
      name: 'nothing-here',
    });
    expect((await finished(without.job.id)).state).toBe('failed');
    await fleet.admin.post(`/jobs/${without.job.id}/retry`, {});
    const again = await finished(without.job.id);
    expect([again.state, again.error]).toEqual(['failed', expect.stringMatching(/^IMAGE_UNAVAILABLE: /)]);
  }, 60_000);

  it('refuses a second pull of a name while the first is under way, before it downloads anything', async () => {
    const pull = () =>
      fleet.admin
        .post<ImagePullView>('/images/pull', { reference: `${basic.host}/lib/tiny:v1`, name: 'twice:v1', auth: basic.credentials })
        .catch((e: unknown) => e);
    const outcomes = await Promise.all([pull(), pull()]);
    const started = outcomes.filter((o): o is ImagePullView => !(o instanceof Error));
    const refused = outcomes.filter((o) => o instanceof Error) as Array<{ code: string; message: string }>;
    expect(started).toHaveLength(1);
    expect(refused.map((r) => [r.code, r.message])).toEqual([
      ['CONFLICT', `image twice:v1 is being pulled already (job ${started[0]!.job.id})`],
    ]);
    expect((await finished(started[0]!.job.id)).state).toBe('completed');
  }, 60_000);

  it('keeps what a pull that broke off downloaded, and its retry fetches only the rest (a Range request)', async () => {
    const big = buildImage([layerOf([{ name: 'noise', body: randomBytes(1024 * 1024) }])]);
    await pushFixture(open, 'lib/big', 'v1', big);
    const layer = big.layers[0]!;
    flaky.breakNext(layer.digest, 200_000);
    const started = await fleet.admin.post<ImagePullView>('/images/pull', { reference: `${flaky.host}/lib/big:v1`, name: 'resumed:v1' });
    const broken = await finished(started.job.id);
    expect([broken.state, broken.error]).toEqual(['failed', expect.stringMatching(/^IMAGE_UNAVAILABLE: .*broke off at \d+ of \d+ bytes/)]);
    // its layout stays, with the part that came, for the retry of this job
    const layout = join(pullsDir(), `job-${started.job.id}`);
    const part = join(layout, 'blobs', 'sha256', `${layer.digest.slice('sha256:'.length)}.partial`);
    expect(existsSync(part)).toBe(true);
    await fleet.admin.post(`/jobs/${started.job.id}/retry`, {});
    const retried = await finished(started.job.id);
    expect([retried.state, retried.error ?? null]).toEqual(['completed', null]);
    const gets = flaky.gets(layer.digest);
    expect(gets[0]).toBe('whole');
    expect(gets.slice(1)).toEqual([expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
    // (what reached the node before the break: part of the 200,000 bytes sent, the rest lost with the connection)
    expect(Number(/^bytes=(\d+)-$/.exec(gets[1]!)![1])).toBeLessThanOrEqual(200_000);
    expect((await fleet.admin.get<ImageView>('/images/resumed:v1')).digest).toBe(big.manifestDigest);
    expect(existsSync(layout)).toBe(false);
  }, 60_000);

  it('lets a pull of a name through once the pull under way died with its worker (its lock expired)', async () => {
    const queues = await queuesWithGoneNode('node-stalled');
    const spec = { reference: `${basic.host}/lib/tiny:v1`, name: 'stalled:v1', auth: basic.credentials! };
    const id = await queues.enqueuePull('node-stalled', { kind: 'pull', project: 'default', ...spec });
    // a worker of that node takes it and dies: nothing renews its lock, and no worker of the queue is left to fail it
    const connection = redis.duplicate({ maxRetriesPerRequest: null });
    const dying = new Worker(lifecycleQueueName('node-stalled'), undefined, {
      connection,
      prefix: fleet.base.queuePrefix,
      lockDuration: 1500,
      autorun: false,
    });
    expect((await dying.getNextJob('a-worker-that-died'))?.id).toBe(id);
    await dying.close();
    connection.disconnect();
    const pull = () => fleet.admin.post<ImagePullView>('/images/pull', spec);
    expect(await refusal(pull())).toMatchObject({ code: 'CONFLICT', message: `image stalled:v1 is being pulled already (job ${id})` });
    await new Promise((r) => setTimeout(r, 2000));
    const again = await pull();
    expect(again.job.id).not.toBe(id);
    expect((await finished(again.job.id)).state).toBe('completed');
    expect((await fleet.admin.get<ImageView>('/images/stalled:v1')).digest).toBe(image.manifestDigest);
  }, 60_000);

  it('moves a pull that waits on a node that is gone to a live node, which pulls it', async () => {
    const queues = await queuesWithGoneNode('node-gone');
    const id = await queues.enqueuePull('node-gone', {
      kind: 'pull',
      project: 'default',
      name: 'moved:v1',
      reference: `${basic.host}/lib/tiny:v1`,
      auth: basic.credentials!,
    });
    // the live worker's sweep (every second) moves it; it then runs there with its credentials
    const job = await finished(id);
    expect([job.state, job.error ?? null]).toEqual(['completed', null]);
    expect((await fleet.db.pool.query('SELECT queue FROM job WHERE id = $1', [id])).rows[0].queue).toBe(lifecycleQueueName('node-a'));
    expect((await fleet.admin.get<ImageView>('/images/moved:v1')).digest).toBe(image.manifestDigest);
    expect(await redis.exists(`${fleet.base.queuePrefix}:${lifecycleQueueName('node-gone')}:${id}`)).toBe(0);
  }, 60_000);

  it("takes back a pull that the project's disk quota refuses: no record, no new layer, no blob, no layout", async () => {
    await fleet.admin.post('/projects', { name: 'tight', quotas: { diskBytes: 1024 } });
    const big = buildImage([layerOf([{ name: 'big', body: Buffer.alloc(64 * 1024, 7) }])]);
    await pushFixture(basic, 'lib/big', 'v1', big);
    const layersBefore = listing(layersDir());
    const tight = fleet.admin.withSelection({ project: 'tight' });
    const started = await tight.post<ImagePullView>('/images/pull', { reference: `${basic.host}/lib/big:v1`, auth: basic.credentials });
    expect(started.image).toEqual({ project: 'tight', name: 'big:v1' });
    const job = await finished(started.job.id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/^QUOTA_EXCEEDED: /);
    expect(job.bytesDone).toBe(big.layers[0]!.blob.length); // the layer came, and went again
    expect((await refusal(tight.get('/images/big:v1'))).code).toBe('NOT_FOUND');
    expect(listing(layersDir())).toEqual(layersBefore);
    expect(listing(join(fleet.base.dataDir, 'images', '.oci', 'blobs', 'sha256'))).toEqual([]);
    expect(listing(pullsDir())).toEqual([]);
  }, 60_000);

  it('fails a manifest list of another platform only, naming the platforms it has', async () => {
    const architecture = nodeArch() === 's390x' ? 'ppc64le' : 's390x';
    const foreign = buildImage([layerOf([{ name: 'foreign', body: 'y' }])], {}, architecture);
    await pushFixture(basic, 'lib/foreign', 'only', foreign);
    await pushIndex(basic, 'lib/foreign', 'multi', foreign, { os: 'linux', architecture });
    const started = await fleet.admin.post<ImagePullView>('/images/pull', {
      reference: `${basic.host}/lib/foreign:multi`,
      auth: basic.credentials,
    });
    const job = await finished(started.job.id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(new RegExp(`^(INVALID_INPUT|IMAGE_UNAVAILABLE): .*linux/${architecture}`));
    expect((await refusal(fleet.admin.get('/images/foreign:multi'))).code).toBe('NOT_FOUND');
  }, 60_000);

  it('refuses a name that exists with 409 at once, before any job', async () => {
    const { rows: before } = await fleet.db.pool.query(`SELECT count(*)::int AS n FROM job WHERE kind = 'pull'`);
    const err = await refusal(fleet.admin.post('/images/pull', { reference: `${basic.host}/lib/tiny:v1`, auth: basic.credentials }));
    expect([err.status, err.code]).toEqual([409, 'CONFLICT']);
    const named = await refusal(fleet.admin.post('/images/pull', { reference: `${basic.host}/lib/other:v1`, name: 'tiny:latest' }));
    expect(named.code).toBe('CONFLICT');
    const { rows: after } = await fleet.db.pool.query(`SELECT count(*)::int AS n FROM job WHERE kind = 'pull'`);
    expect(after[0].n).toBe(before[0].n);
    // a reference that cannot be is refused at once too
    expect((await refusal(fleet.admin.post('/images/pull', { reference: 'Not A Reference' }))).code).toBe('INVALID_INPUT');
  });
});
