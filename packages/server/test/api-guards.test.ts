import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../src/api/operations';
import { startTestFleet, type TestFleet } from './support/test-server';
import { rawRequest } from './support/test-helpers';

let fleet: TestFleet;
let viewerToken: string;
let operatorToken: string;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 4 });
  viewerToken = (await fleet.admin.post<{ token: string }>('/tokens', { name: 'viewer', role: 'viewer' })).token;
  operatorToken = (await fleet.admin.post<{ token: string }>('/tokens', { name: 'op', role: 'operator' })).token;
});
afterAll(async () => {
  await fleet?.stop();
});

function raw(method: string, path: string, init: { token?: string; body?: string; headers?: Record<string, string> } = {}) {
  return rawRequest(`${fleet.url}/api/v1${path}`, method, init);
}

async function containerCount(): Promise<number> {
  const { rows } = await fleet.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM container');
  return Number(rows[0]!.n);
}

async function leaseCount(): Promise<number> {
  const { rows } = await fleet.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM id_lease');
  return Number(rows[0]!.n);
}

const concrete = (path: string) => path.replace('{name}', 'nobody').replace('{id}', 'nojob');

describe('auth', () => {
  it('refuses every route but /healthz without a token, and with a wrong token', async () => {
    expect(OPERATIONS.length).toBeGreaterThan(20);
    for (const op of OPERATIONS) {
      const none = await raw(
        op.method.toUpperCase(),
        concrete(op.path),
        op.method === 'get' || op.method === 'delete' ? {} : { body: '{}' },
      );
      const wrong = await raw(op.method.toUpperCase(), concrete(op.path), {
        token: 'not-a-token',
        ...(op.method === 'post' ? { body: '{}' } : {}),
      });
      if (op.role === 'none') {
        expect(none.status, op.path).toBe(200);
        continue;
      }
      expect(none.status, `${op.method} ${op.path}`).toBe(401);
      expect(none.body.error.code).toBe('UNAUTHORIZED');
      expect(wrong.status, `${op.method} ${op.path}`).toBe(401);
    }
    const metrics = await fetch(`${fleet.url}/metrics`);
    expect(metrics.status).toBe(401);
  });

  it('lets a viewer read but not mutate (403), and an operator not mint tokens', async () => {
    for (const op of OPERATIONS.filter((o) => o.role === 'operator' || o.role === 'admin')) {
      const res = await raw(op.method.toUpperCase(), concrete(op.path), {
        token: viewerToken,
        ...(op.method === 'post' ? { body: '{}' } : {}),
      });
      expect(res.status, `${op.method} ${op.path}`).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
    }
    for (const op of OPERATIONS.filter((o) => o.method === 'get' && o.role === 'viewer' && !o.path.includes('{'))) {
      const res = await fetch(`${fleet.url}/api/v1${op.path}`, { headers: { authorization: `Bearer ${viewerToken}` } });
      expect(res.status, op.path).toBe(200);
    }
    const mint = await raw('POST', '/tokens', { token: operatorToken, body: JSON.stringify({ name: 'x', role: 'admin' }) });
    expect(mint.status).toBe(403);
    expect(await containerCount()).toBe(0);
  });

  it('serves an OpenAPI 3.1 document built from the request schemas', async () => {
    const doc = (await raw('GET', '/openapi.json', { token: viewerToken })).body;
    expect(doc.openapi).toBe('3.1.0');
    const create = doc.paths['/containers'].post.requestBody.content['application/json'].schema;
    expect(create.required).toEqual(['name', 'image']);
    expect(create.additionalProperties).toBe(false);
    expect(Object.keys(create.properties)).toEqual([
      'name',
      'image',
      'command',
      'entrypoint',
      'workingDir',
      'user',
      'env',
      'limits',
      'idmap',
      'security',
      'network',
      'mounts',
      'node',
      'restartPolicy',
      'init',
      'stopSignal',
      'stopTimeoutSeconds',
    ]);
    expect(create.properties.security.properties.nesting.type).toBe('boolean');
  });
});

describe('bad input: a clear 4xx with a stable code, and nothing created', () => {
  const cases: Array<[string, { body?: string; headers?: Record<string, string> }, number, string]> = [
    ['malformed JSON', { body: '{"name": "a",' }, 400, 'INVALID_INPUT'],
    ['a JSON array', { body: '[]' }, 400, 'INVALID_INPUT'],
    ['no body', { body: '' }, 400, 'INVALID_INPUT'],
    ['unknown field', { body: JSON.stringify({ name: 'a', image: 'busybox', privileged: true }) }, 400, 'INVALID_INPUT'],
    ['unknown nested field', { body: JSON.stringify({ name: 'a', image: 'busybox', limits: { memory: 5 } }) }, 400, 'INVALID_INPUT'],
    ['network mode host', { body: JSON.stringify({ name: 'a', image: 'busybox', network: { mode: 'host' } }) }, 400, 'INVALID_INPUT'],
    [
      'published port 0 on a hostname',
      {
        body: JSON.stringify({
          name: 'a',
          image: 'busybox',
          network: { mode: 'bridge', publish: [{ hostPort: 0, containerPort: 80, protocol: 'tcp', hostIp: 'localhost' }] },
        }),
      },
      400,
      'INVALID_INPUT',
    ],
    ['upper-case name', { body: JSON.stringify({ name: 'Web', image: 'busybox' }) }, 400, 'INVALID_INPUT'],
    ['name with a dot', { body: JSON.stringify({ name: 'a.b', image: 'busybox' }) }, 400, 'INVALID_INPUT'],
    ['64-character name', { body: JSON.stringify({ name: 'a'.repeat(64), image: 'busybox' }) }, 400, 'INVALID_INPUT'],
    ['name ending in -', { body: JSON.stringify({ name: 'web-', image: 'busybox' }) }, 400, 'INVALID_INPUT'],
    ['missing image', { body: JSON.stringify({ name: 'a' }) }, 400, 'INVALID_INPUT'],
    ['unknown image', { body: JSON.stringify({ name: 'a', image: 'nosuchimage' }) }, 400, 'INVALID_INPUT'],
    ['empty command', { body: JSON.stringify({ name: 'a', image: 'busybox', command: [] }) }, 400, 'INVALID_INPUT'],
    [
      'size not a multiple of 65536',
      { body: JSON.stringify({ name: 'a', image: 'busybox', idmap: { size: 65537 } }) },
      400,
      'INVALID_INPUT',
    ],
    [
      'raw map onto host 0',
      { body: JSON.stringify({ name: 'a', image: 'busybox', idmap: { raw: [{ kind: 'both', hostId: 0, nsId: 0, count: 1 }] } }) },
      400,
      'INVALID_INPUT',
    ],
    [
      'raw map of a range starting at 0',
      { body: JSON.stringify({ name: 'a', image: 'busybox', idmap: { raw: [{ kind: 'uid', hostId: 0, nsId: 1000, count: 65536 }] } }) },
      400,
      'INVALID_INPUT',
    ],
    [
      'key on a shared map',
      { body: JSON.stringify({ name: 'a', image: 'busybox', idmap: { isolated: false, key: 'k' } }) },
      400,
      'INVALID_INPUT',
    ],
    ['negative memory', { body: JSON.stringify({ name: 'a', image: 'busybox', limits: { memoryBytes: -1 } }) }, 400, 'INVALID_INPUT'],
    ['unknown node', { body: JSON.stringify({ name: 'a', image: 'busybox', node: 'elsewhere' }) }, 400, 'INVALID_INPUT'],
    // limits the host cannot enforce: refused here, never accepted and failed in the worker
    ['cpus below 0.01', { body: JSON.stringify({ name: 'a', image: 'busybox', limits: { cpus: 0.0001 } }) }, 400, 'INVALID_INPUT'],
    [
      "cpus above the node's CPUs",
      { body: JSON.stringify({ name: 'a', image: 'busybox', limits: { cpus: availableParallelism() + 1 } }) },
      400,
      'INVALID_INPUT',
    ],
    [
      "memory above the node's memory",
      { body: JSON.stringify({ name: 'a', image: 'busybox', limits: { memoryBytes: totalmem() + 4096 } }) },
      400,
      'INVALID_INPUT',
    ],
    [
      'pids above pid_max',
      {
        body: JSON.stringify({
          name: 'a',
          image: 'busybox',
          limits: { pids: Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1 },
        }),
      },
      400,
      'INVALID_INPUT',
    ],
    [
      'huge body',
      { body: JSON.stringify({ name: 'a', image: 'busybox', env: { BIG: 'x'.repeat(1024 * 1024) } }) },
      413,
      'PAYLOAD_TOO_LARGE',
    ],
  ];

  it.each(cases)('%s', async (_what, init, status, code) => {
    const res = await raw('POST', '/containers', { token: operatorToken, ...init });
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(typeof res.body.error.message).toBe('string');
    expect(await containerCount()).toBe(0);
    expect(await leaseCount()).toBe(0);
  });

  it('a raw map outside what an admin allowed is refused by the job, and the container takes nothing', async () => {
    const res = await raw('POST', '/containers', {
      token: operatorToken,
      body: JSON.stringify({ name: 'rawy', image: 'busybox', idmap: { raw: [{ kind: 'uid', hostId: 1000, nsId: 1000, count: 1 }] } }),
    });
    expect(res.status).toBe(202);
    const job = await fleet.admin.waitForJob(res.body.job.id);
    expect(job.state).toBe('failed');
    const c = await fleet.admin.get<{ state: string; error: { code: string } }>('/containers/rawy');
    expect(c.state).toBe('failed');
    expect(c.error.code).toBe('FORBIDDEN');
    expect(await leaseCount()).toBe(0);
    await fleet.admin.waitForJob((await fleet.admin.delete<{ job: { id: string } }>('/containers/rawy?force=1')).job.id);
  });

  it('bad paths and query strings are 4xx too', async () => {
    expect((await raw('GET', '/containers/NOT_A_NAME', { token: viewerToken })).status).toBe(400);
    expect((await raw('GET', '/containers?bogus=1', { token: viewerToken })).status).toBe(400);
    expect((await raw('GET', '/no/such/route', { token: viewerToken })).body.error.code).toBe('NOT_FOUND');
    expect((await raw('GET', '/jobs/%00', { token: viewerToken })).status).toBe(404);
    expect((await raw('POST', '/containers/ghost/stop', { token: operatorToken, body: '{}' })).status).toBe(404);
  });
});

describe('a pool of few slices', () => {
  it('runs as many containers as there are slices, then POOL_EXHAUSTED, taking nothing', async () => {
    const created: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fleet.admin.post<{ job: { id: string } }>('/containers', { name: `full${i}`, image: 'busybox' });
      expect((await fleet.admin.waitForJob(res.job.id)).state).toBe('completed');
      created.push(`full${i}`);
    }
    const before = await containerCount();
    const res = await raw('POST', '/containers', {
      token: operatorToken,
      body: JSON.stringify({ name: 'one-too-many', image: 'busybox' }),
    });
    expect(res.status).toBe(507);
    expect(res.body.error.code).toBe('POOL_EXHAUSTED');
    expect(await containerCount()).toBe(before);
    expect(await leaseCount()).toBe(4);
    for (const name of created)
      await fleet.admin.waitForJob((await fleet.admin.delete<{ job: { id: string } }>(`/containers/${name}?force=1`)).job.id);
  });
});
