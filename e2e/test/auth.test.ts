import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../../packages/server/src/api/operations';
import { ADMIN_TOKEN, NagayaSystem, rawRequest } from '../support/system';

/**
 * Auth of every route on the API as deployed (its own process), beyond what
 * packages/server/test/api-guards.test.ts covers in-process: malformed Authorization headers of
 * every kind, a token of another installation, each role against each route it may not use,
 * and that no refused request changed anything.
 */

let sys: NagayaSystem;
const tokens: Record<'viewer' | 'operator', string> = { viewer: '', operator: '' };
let runId = '';
/** Routes that answer with a stream that stays open (Server-Sent Events). */
const STREAMS = new Set(['/events']);

beforeAll(async () => {
  sys = await NagayaSystem.start({ slices: 8 });
  for (const role of ['viewer', 'operator'] as const) {
    tokens[role] = (await sys.admin.post<{ token: string }>('/tokens', { name: `${role}-1`, role })).token;
  }
  const { job } = await sys.admin.post<{ job: { id: string } }>('/containers', { name: 'victim', image: 'busybox' });
  await sys.admin.waitForJob(job.id);
  // a volume of the same name, so a viewer's GET /volumes/{name} reads a real one
  await sys.admin.post('/volumes', { name: 'victim' });
  // and a finished run, for /runs/{id}
  const { run } = await sys.admin.post<{ run: { id: string } }>('/runs', { image: 'busybox', command: ['true'], timeoutSeconds: 30 });
  runId = run.id;
  await sys.admin.get(`/runs/${runId}/wait?timeoutSeconds=30`);
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

const concrete = (path: string) =>
  path
    .replace('{name}', /^\/(pools|projects)\//.test(path) ? 'default' : path.startsWith('/images/') ? 'busybox' : 'victim')
    .replace('{id}', path.startsWith('/runs/') && !path.startsWith('/runs/schedules/') ? runId : 'nojob');
const bodyFor = (path: string, method: string) =>
  method === 'get' || method === 'delete'
    ? undefined
    : path === '/containers'
      ? JSON.stringify({ name: 'intruder', image: 'busybox' })
      : path === '/tokens'
        ? JSON.stringify({ name: 'intruder', role: 'admin' })
        : path === '/pools'
          ? JSON.stringify({ name: 'intruder', uid: { start: 100000, count: 65536 }, gid: { start: 100000, count: 65536 } })
          : path.endsWith('/exec')
            ? JSON.stringify({ command: ['id'] })
            : '{}';

async function state(): Promise<string> {
  const { rows } = await sys.db.query(`SELECT (SELECT count(*) FROM container) AS c, (SELECT count(*) FROM api_token) AS t,
    (SELECT count(*) FROM id_pool) AS p, (SELECT count(*) FROM job) AS j, (SELECT string_agg(state, ',') FROM container) AS s`);
  return JSON.stringify(rows[0]);
}

const MALFORMED: Array<[string, Record<string, string>]> = [
  ['no header', {}],
  ['empty', { authorization: '' }],
  ['Bearer alone', { authorization: 'Bearer' }],
  ['Bearer and a space', { authorization: 'Bearer ' }],
  ['Basic with the admin token', { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` }],
  ['the token without a scheme', { authorization: ADMIN_TOKEN }],
  ['two tokens', { authorization: `Bearer ${ADMIN_TOKEN} ${ADMIN_TOKEN}` }],
  ['token plus junk', { authorization: `Bearer ${ADMIN_TOKEN}x` }],
  ['a prefix of the token', { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}` }],
  ["another installation's token", { authorization: 'Bearer ngy_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
  ['an overlong token', { authorization: `Bearer ${'a'.repeat(4096)}` }],
  ['the token in a query string only', {}],
  ['the token in a cookie', { cookie: `token=${ADMIN_TOKEN}` }],
];

describe('auth on every route of the deployed API', () => {
  it('refuses every route (but /healthz) with no or a malformed token: 401, and nothing changes', async () => {
    const before = await state();
    let checked = 0;
    for (const op of OPERATIONS.filter((o) => o.role !== 'none')) {
      for (const [what, headers] of MALFORMED) {
        const path = `/api/v1${concrete(op.path)}${what.includes('query') ? `?token=${ADMIN_TOKEN}&access_token=${ADMIN_TOKEN}` : ''}`;
        const body = bodyFor(op.path, op.method);
        const res = await rawRequest(`${sys.url}${path}`, op.method.toUpperCase(), {
          headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body } : {}),
        });
        expect(res.status, `${op.method} ${op.path} with ${what}`).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHORIZED');
        expect(res.body.error.message).toMatch(/token/i);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(250);
    expect((await rawRequest(`${sys.url}/metrics`, 'GET')).status).toBe(401);
    expect((await rawRequest(`${sys.url}/healthz`, 'GET')).status).toBe(200);
    expect(await state()).toBe(before);
  });

  it('a viewer may read every route but mutate none; an operator may not do admin things; nothing changes', async () => {
    const before = await state();
    for (const op of OPERATIONS.filter((o) => o.role === 'operator' || o.role === 'admin')) {
      const body = bodyFor(op.path, op.method);
      for (const role of op.role === 'admin' ? (['viewer', 'operator'] as const) : (['viewer'] as const)) {
        const res = await rawRequest(`${sys.url}/api/v1${concrete(op.path)}`, op.method.toUpperCase(), {
          token: tokens[role],
          ...(body ? { body } : {}),
        });
        expect(res.status, `${role} ${op.method} ${op.path}`).toBe(403);
        expect(res.body.error.code).toBe('FORBIDDEN');
        expect(res.body.error.message).toContain(op.role);
      }
    }
    for (const op of OPERATIONS.filter((o) => o.role === 'viewer' && o.method === 'get')) {
      if (STREAMS.has(op.path)) {
        // a stream never ends: its status is what the viewer gets, then it is left
        const stream = new AbortController();
        const res = await fetch(`${sys.url}/api/v1${concrete(op.path)}`, {
          headers: { authorization: `Bearer ${tokens.viewer}` },
          signal: stream.signal,
        });
        stream.abort();
        expect(res.status, `viewer GET ${op.path}`).toBe(200);
        continue;
      }
      const res = await rawRequest(`${sys.url}/api/v1${concrete(op.path)}`, 'GET', { token: tokens.viewer });
      expect([200, 404], `viewer GET ${op.path}`).toContain(res.status); // 404 only for the job that does not exist
      if (res.status === 404) expect(op.path).toBe('/jobs/{id}');
    }
    expect(await state()).toBe(before);
    // and the victim still runs, untouched
    expect((await sys.admin.get<{ state: string }>('/containers/victim')).state).toBe('running');
  });

  it('the roles that may, can: an operator acts on containers, an admin mints tokens', async () => {
    const op = sys.client(tokens.operator);
    const res = await op.post<{ job: { id: string } }>('/containers', { name: 'by-operator', image: 'busybox' });
    expect((await op.waitForJob(res.job.id)).state).toBe('completed');
    expect((await op.waitForJob((await op.delete<{ job: { id: string } }>('/containers/by-operator?force=1')).job.id)).state).toBe(
      'completed',
    );
    const minted = await sys.admin.post<{ token: string }>('/tokens', { name: 'fresh', role: 'viewer' });
    expect((await rawRequest(`${sys.url}/api/v1/whoami`, 'GET', { token: minted.token })).body).toMatchObject({
      name: 'fresh',
      role: 'viewer',
    });
    // lower-case scheme is fine (RFC 7235: the scheme is case-insensitive)
    expect((await rawRequest(`${sys.url}/api/v1/whoami`, 'GET', { headers: { authorization: `bearer ${tokens.operator}` } })).status).toBe(
      200,
    );
  });
});
