import { readFileSync } from 'node:fs';
import type { ApiError, ProjectView, QuotaExceededDetails } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../src/cli/api-client';
import { rawTar } from '../../native/test/support/raw-tar';
import { startTestFleet, type TestFleet } from './support/test-server';
import { rawRequest, refusal } from './support/test-helpers';
import { countRows, eventuallyCount as countRowsEventually, eventuallyRunning, projectToken } from './support/project-helpers';

// Projects keep tenants apart: a token of one project finds nothing of another (404, never 403),
// and quotas are kept by Postgres in the statement that takes the resource.

let fleet: TestFleet;
/** Operator tokens of projects alpha and beta, a viewer of alpha, an admin of alpha. */
let alpha: ApiClient;
let beta: ApiClient;
let alphaViewer: ApiClient;
let alphaAdmin: ApiClient;

const token = (name: string, role: string, project: string) => projectToken(fleet, name, role, project);
const count = (sql: string, values: unknown[] = []) => countRows(fleet, sql, values);
const eventuallyCount = (sql: string, want: number) => countRowsEventually(fleet, sql, want);

const patch = (client: ApiClient, path: string, body: unknown) => client.request<ProjectView>('PATCH', path, body);

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 48, env: { NAGAYA_IMAGE_UPLOAD_LIMIT_BYTES: String(8 * 1024 * 1024) } });
  await fleet.admin.post('/projects', { name: 'alpha', description: 'tenant A' });
  await fleet.admin.post('/projects', { name: 'beta' });
  alpha = await token('alpha-op', 'operator', 'alpha');
  beta = await token('beta-op', 'operator', 'beta');
  alphaViewer = await token('alpha-viewer', 'viewer', 'alpha');
  alphaAdmin = await token('alpha-admin', 'admin', 'alpha');
}, 60_000);
afterAll(async () => {
  // the counters the quota triggers keep equal what the rows add up to, after everything above
  const { rows } = await fleet.db.pool.query(
    `SELECT r.project FROM project_usage_recount r JOIN project_usage u USING (project)
      WHERE (r.containers, r.slices, r.memory_bytes, r.cpus, r.processes, r.disk_bytes)
            IS DISTINCT FROM (u.containers, u.slices, u.memory_bytes, u.cpus, u.processes, u.disk_bytes)`,
  );
  expect(rows).toEqual([]);
  expect(await count('SELECT count(*) AS n FROM project_usage')).toBe(await count('SELECT count(*) AS n FROM project'));
  await fleet?.stop();
});

describe('the wall between projects', () => {
  it('gives a token of alpha 404 for everything of beta, on every route, and changes nothing', async () => {
    await beta.post('/containers', { name: 'secret', image: 'busybox' });
    const running = await eventuallyRunning(beta, 'secret');
    expect(running.project).toBe('beta');

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['get', () => alpha.get('/containers/secret')],
      ['exec', () => alpha.post('/containers/secret/exec', { command: ['true'] })],
      ['logs', () => alpha.get('/containers/secret/logs')],
      ['stop', () => alpha.post('/containers/secret/stop')],
      ['start', () => alpha.post('/containers/secret/start')],
      ['restart', () => alpha.post('/containers/secret/restart')],
      ['delete', () => alpha.delete('/containers/secret?force=1')],
      ['get ?project=beta', () => alpha.get('/containers/secret?project=beta')],
      ['delete ?project=beta', () => alpha.delete('/containers/secret?project=beta&force=1')],
      ['list ?project=beta', () => alpha.get('/containers?project=beta')],
      ['jobs of it', () => alpha.get('/jobs?container=secret')],
      ['project beta', () => alpha.get('/projects/beta')],
    ];
    for (const [what, call] of calls) {
      const err = await refusal(call());
      expect([what, err.status, err.code]).toEqual([what, 404, 'NOT_FOUND']);
    }
    // a project that exists and one that does not answer alike: names do not leak
    const missing = await refusal(alpha.get('/containers?project=nosuchproject'));
    const existing = await refusal(alpha.get('/containers?project=beta'));
    expect(existing.message.replace('beta', 'X')).toBe(missing.message.replace('nosuchproject', 'X'));

    expect((await alpha.get<{ containers: unknown[] }>('/containers')).containers).toEqual([]);
    const after = await eventuallyRunning(beta, 'secret');
    expect(after.pid).toBe(running.pid); // neither stopped nor restarted
    // the launch job is beta's: alpha neither finds it nor retries it
    const { jobs } = await beta.get<{ jobs: Array<{ id: string; project: string }> }>('/jobs');
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) {
      expect(job.project).toBe('beta');
      expect((await refusal(alpha.get(`/jobs/${job.id}`))).code).toBe('NOT_FOUND');
      expect((await refusal(alpha.post(`/jobs/${job.id}/retry`))).code).toBe('NOT_FOUND');
    }
    expect((await alpha.get<{ jobs: unknown[] }>('/jobs')).jobs).toEqual([]);
  });

  it('lets two projects use the same container name, each finding its own', async () => {
    await alpha.post('/containers', { name: 'secret', image: 'busybox' });
    const mine = await eventuallyRunning(alpha, 'secret');
    const theirs = await eventuallyRunning(beta, 'secret');
    expect(mine.project).toBe('alpha');
    expect(mine.id).not.toBe(theirs.id);
    // and their slices are disjoint, each shown only to its project
    const a = await alpha.get<{ allocations: Array<{ project: string; container: string; uid: { start: number } }> }>('/allocations');
    const b = await beta.get<{ allocations: Array<{ project: string; container: string; uid: { start: number } }> }>('/allocations');
    expect(a.allocations.map((x) => [x.project, x.container])).toEqual([['alpha', 'secret']]);
    expect(b.allocations.map((x) => [x.project, x.container])).toEqual([['beta', 'secret']]);
    expect(a.allocations[0]!.uid.start).not.toBe(b.allocations[0]!.uid.start);
    // an admin of every project sees both, with their projects
    const all = await fleet.admin.get<{ allocations: Array<{ project: string | null; container: string | null }> }>('/allocations');
    expect(
      all.allocations
        .filter((x) => x.container === 'secret')
        .map((x) => x.project)
        .sort(),
    ).toEqual(['alpha', 'beta']);
    // lists: one project by default, every project on request
    const defaults = await fleet.admin.get<{ containers: Array<{ name: string }> }>('/containers');
    expect(defaults.containers.map((c) => c.name)).not.toContain('secret');
    const every = await fleet.admin.get<{ containers: Array<{ project: string; name: string }> }>('/containers?all-projects=true');
    expect(
      every.containers
        .filter((c) => c.name === 'secret')
        .map((c) => c.project)
        .sort(),
    ).toEqual(['alpha', 'beta']);
    expect((await refusal(alpha.get('/containers?all-projects=true'))).code).toBe('FORBIDDEN');
    // the admin reaches into a project by naming it
    const theirsByAdmin = await fleet.admin.get<{ id: string }>('/containers/secret?project=beta');
    expect(theirsByAdmin.id).toBe(theirs.id);
  });

  it("keeps a project's images its own: beta neither lists nor launches alpha's upload", async () => {
    const tar = rawTar([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', body: readFileSync('/bin/busybox'), mode: 0o755 },
    ]);
    const upload = await rawRequest(`${fleet.url}/api/v1/images?name=tools`, 'POST', {
      token: alpha.token!,
      body: tar,
      headers: { 'content-type': 'application/x-tar' },
    });
    expect(upload.status).toBe(201);
    expect(upload.body).toMatchObject({ project: 'alpha', name: 'tools' });
    const listed = (c: ApiClient) => c.get<{ images: Array<{ project: string; name: string }> }>('/images');
    expect((await listed(alpha)).images.map((i) => `${i.project}/${i.name}`)).toEqual(['alpha/tools', 'default/busybox']);
    // the built-in busybox serves every project; alpha's upload serves alpha alone
    expect((await listed(beta)).images.map((i) => `${i.project}/${i.name}`)).toEqual(['default/busybox']);
    const refused = await refusal(beta.post('/containers', { name: 'borrow', image: 'tools' }));
    expect(refused.code).toBe('INVALID_INPUT');
    expect(await count("SELECT count(*) AS n FROM container WHERE name = 'borrow'")).toBe(0);
    // nor can beta overwrite it, or see it by naming alpha
    expect((await refusal(beta.get('/images?project=alpha'))).code).toBe('NOT_FOUND');
    const again = await rawRequest(`${fleet.url}/api/v1/images?name=tools&project=alpha`, 'POST', {
      token: beta.token!,
      body: tar,
      headers: { 'content-type': 'application/x-tar' },
    });
    expect(again.status).toBe(404);
    // alpha launches from it
    await alpha.post('/containers', { name: 'from-tools', image: 'tools', command: ['/bin/busybox', 'sleep', '600'] });
    expect((await eventuallyRunning(alpha, 'from-tools')).image).toBe('tools');
  });

  it('keeps roles within a project: a viewer reads but never mutates; a project admin cannot manage fleet things', async () => {
    expect((await alphaViewer.get<{ containers: Array<{ name: string }> }>('/containers')).containers.length).toBeGreaterThan(0);
    for (const call of [
      () => alphaViewer.post('/containers', { name: 'viewer-made', image: 'busybox' }),
      () => alphaViewer.post('/containers/secret/stop'),
      () => alphaViewer.delete('/containers/secret?force=1'),
      () => alphaViewer.post('/containers/secret/exec', { command: ['true'] }),
    ]) {
      expect((await refusal(call())).code).toBe('FORBIDDEN');
    }
    // a project's admin manages its project's tokens, and nothing that spans projects
    const made = await alphaAdmin.post<{ project: string; token: string }>('/tokens', { name: 'alpha-ci', role: 'operator' });
    expect(made.project).toBe('alpha');
    const tokens = await alphaAdmin.get<{ tokens: Array<{ project: string | null }> }>('/tokens');
    expect(new Set(tokens.tokens.map((t) => t.project))).toEqual(new Set(['alpha']));
    expect((await refusal(alphaAdmin.post('/tokens', { name: 'x', role: 'operator', project: 'beta' }))).code).toBe('NOT_FOUND');
    expect((await refusal(alphaAdmin.post('/tokens', { name: 'x', role: 'admin', project: null }))).code).toBe('FORBIDDEN');
    const betaTokenId = (await fleet.admin.get<{ tokens: Array<{ id: number; project: string | null }> }>('/tokens')).tokens.find(
      (t) => t.project === 'beta',
    )!.id;
    expect((await refusal(alphaAdmin.delete(`/tokens/${betaTokenId}`))).code).toBe('NOT_FOUND');
    for (const call of [
      () => alphaAdmin.post('/projects', { name: 'gamma' }),
      () => patch(alphaAdmin, '/projects/alpha', { quotas: { containers: 1000 } }),
      () => alphaAdmin.delete('/projects/beta'),
      () => alphaAdmin.get('/audit'),
      () => alphaAdmin.post('/pools', { name: 'mine', uid: { start: 100000, count: 65536 }, gid: { start: 100000, count: 65536 } }),
      () => alphaAdmin.post('/containers', { name: 'nested', image: 'busybox', security: { nesting: true } }),
    ]) {
      expect((await refusal(call())).code).toBe('FORBIDDEN');
    }
    expect((await alphaAdmin.get<{ projects: Array<{ name: string }> }>('/projects')).projects.map((p) => p.name)).toEqual(['alpha']);
    expect(await alphaAdmin.get('/whoami')).toEqual({ name: 'alpha-admin', role: 'admin', project: 'alpha' });
  });

  it('refuses raw idmaps in a project that does not allow them', async () => {
    const raw = { raw: [{ kind: 'both', hostId: 4_000_000_000, nsId: 70000, count: 1 }] };
    const err = await refusal(alpha.post('/containers', { name: 'raw', image: 'busybox', idmap: raw }));
    expect([err.status, err.code]).toEqual([403, 'FORBIDDEN']);
    expect(err.message).toMatch(/rawIdmapAllowed/);
  });
});

describe('quotas', () => {
  it('16 concurrent creates against containers: 10 give exactly 10, and nothing of the other 6', async () => {
    await fleet.admin.post('/projects', { name: 'crowd', quotas: { containers: 10 } });
    const crowd = await token('crowd-op', 'operator', 'crowd');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 16 }, (_, i) =>
        crowd.post('/containers', { name: `c${i}`, image: 'busybox', limits: { memoryBytes: 64 << 20 } }),
      ),
    );
    const accepted = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as ApiError] : []));
    expect(accepted).toHaveLength(10);
    expect(refused.map((e) => [e.status, e.code])).toEqual(Array(6).fill([403, 'QUOTA_EXCEEDED']));
    const details = refused[0]!.details as QuotaExceededDetails;
    expect(details).toEqual({ project: 'crowd', quota: 'containers', limit: 10, used: 10, requested: 1 });
    expect(refused[0]!.message).toMatch(/containers quota: 10 used of 10/);
    expect(await count("SELECT count(*) AS n FROM container WHERE project = 'crowd'")).toBe(10);
    expect(await count("SELECT count(*) AS n FROM job WHERE project = 'crowd'")).toBe(10);
    // every accepted container gets its slice, and no refused one ever takes one
    await eventuallyCount("SELECT count(*) AS n FROM id_lease l JOIN container c ON c.id::text = l.owner WHERE c.project = 'crowd'", 10);
    const view = await crowd.get<ProjectView>('/projects/crowd');
    expect(view.quotas.containers).toEqual({ limit: 10, used: 10 });
    expect(view.quotas.slices).toEqual({ limit: null, used: 10 });
    expect(view.quotas.memoryBytes.used).toBe(10 * (64 << 20));

    // a deleted container frees its place (any of the ten: which creates won the race varies)
    const first = (accepted[0] as PromiseFulfilledResult<{ container: { name: string } }>).value.container.name;
    const { job } = await crowd.delete<{ job: { id: string } }>(`/containers/${first}?force=1`);
    await crowd.waitForJob(job.id);
    await crowd.post('/containers', { name: 'c-late', image: 'busybox' });
    expect((await refusal(crowd.post('/containers', { name: 'c-over', image: 'busybox' }))).code).toBe('QUOTA_EXCEEDED');
  });

  it('sums memory and cpus limits, and refuses a container without the limit a quota needs', async () => {
    await fleet.admin.post('/projects', { name: 'sums', quotas: { memoryBytes: 256 << 20, cpus: 1 } });
    const sums = await token('sums-op', 'operator', 'sums');
    const launch = (name: string, limits: Record<string, number>) => sums.post('/containers', { name, image: 'busybox', limits });

    const noMemory = await refusal(launch('bare', { cpus: 0.1 }));
    expect([noMemory.code, (noMemory.details as { field: string }).field]).toEqual(['INVALID_INPUT', 'limits.memoryBytes']);
    expect(noMemory.message).toMatch(/memoryBytes quota, so every container must set limits.memoryBytes/);
    expect((await refusal(launch('bare', { memoryBytes: 64 << 20 }))).details).toMatchObject({ field: 'limits.cpus' });

    await launch('m1', { memoryBytes: 128 << 20, cpus: 0.5 });
    await launch('m2', { memoryBytes: 96 << 20, cpus: 0.25 });
    const memory = await refusal(launch('m3', { memoryBytes: 64 << 20, cpus: 0.1 }));
    expect(memory.details).toEqual({ project: 'sums', quota: 'memoryBytes', limit: 256 << 20, used: 224 << 20, requested: 64 << 20 });
    await launch('m3', { memoryBytes: 32 << 20, cpus: 0.25 }); // exactly at the limit is within it
    await patch(fleet.admin, '/projects/sums', { quotas: { memoryBytes: null } });
    const cpus = await refusal(launch('m4', { memoryBytes: 4 << 20, cpus: 0.5 }));
    expect(cpus.details).toMatchObject({ quota: 'cpus', limit: 1, used: 1, requested: 0.5 });
    expect(await count("SELECT count(*) AS n FROM container WHERE project = 'sums'")).toBe(3);
  });

  it('counts slices of isolated maps and processes; lowering a quota below use blocks new creates only', async () => {
    await fleet.admin.post('/projects', { name: 'lower', quotas: { slices: 3, processes: 300 } });
    const lower = await token('lower-op', 'operator', 'lower');
    await lower.post('/containers', { name: 'big', image: 'busybox', idmap: { size: 131072 }, limits: { pids: 100 } });
    await lower.post('/containers', { name: 'shared', image: 'busybox', idmap: { isolated: false }, limits: { pids: 100 } });
    const slices = await refusal(
      lower.post('/containers', { name: 'two', image: 'busybox', idmap: { size: 131072 }, limits: { pids: 50 } }),
    );
    expect(slices.details).toMatchObject({ quota: 'slices', limit: 3, used: 2, requested: 2 });
    const pids = await refusal(lower.post('/containers', { name: 'many', image: 'busybox', limits: { pids: 101 } }));
    expect(pids.details).toMatchObject({ quota: 'processes', limit: 300, used: 200, requested: 101 });
    const running = await eventuallyRunning(lower, 'big');

    const lowered = await patch(fleet.admin, '/projects/lower', { quotas: { slices: 1, processes: null } });
    expect(lowered.quotas.slices).toEqual({ limit: 1, used: 2 });
    expect(lowered.quotas.processes.limit).toBeNull();
    // a change with no body at all is refused, not taken for an empty change
    const bodiless = await fetch(`${fleet.admin.baseUrl}/api/v1/projects/lower`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${fleet.admin.token}`, 'content-type': 'application/json' },
    });
    expect([bodiless.status, ((await bodiless.json()) as { error: { code: string } }).error.code]).toEqual([400, 'INVALID_INPUT']);
    // nor a body in another charset than UTF-8 (one byte of "UTF-16" decoded to nothing, taken for {})
    const utf16 = await fetch(`${fleet.admin.baseUrl}/api/v1/projects/lower`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${fleet.admin.token}`, 'content-type': 'application/json; charset=utf-16' },
      body: '1',
    });
    expect([utf16.status, ((await utf16.json()) as { error: { message: string } }).error.message]).toEqual([
      400,
      'request bodies are UTF-8 JSON; charset utf-16 is not taken',
    ]);
    // nor a compressed body (garbage "brotli" decoded to nothing was taken for {}; seed 515471)
    for (const encoding of ['br', 'gzip', 'deflate']) {
      const compressed = await fetch(`${fleet.admin.baseUrl}/api/v1/projects/lower`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${fleet.admin.token}`, 'content-type': 'application/json', 'content-encoding': encoding },
        body: '5.627196573089872e-253',
      });
      expect([compressed.status, ((await compressed.json()) as { error: { code: string } }).error.code]).toEqual([400, 'INVALID_INPUT']);
    }
    expect((await fleet.admin.get<{ quotas: { slices: { limit: number } } }>('/projects/lower')).quotas.slices.limit).toBe(1);
    expect((await refusal(lower.post('/containers', { name: 'more', image: 'busybox', limits: { pids: 1 } }))).code).toBe('QUOTA_EXCEEDED');
    // what runs keeps running, and may be restarted
    const { job } = await lower.post<{ job: { id: string } }>('/containers/big/restart');
    expect((await lower.waitForJob(job.id)).state).toBe('completed');
    const after = await eventuallyRunning(lower, 'big');
    expect(after.id).toBe(running.id);
    // a project with containers cannot be deleted
    const conflict = await refusal(fleet.admin.delete('/projects/lower'));
    expect(conflict.code).toBe('CONFLICT');
    expect(conflict.details).toMatchObject({ containers: 2 });
  });

  it('keeps the diskBytes quota on image imports', async () => {
    // an image counts its layers' uncompressed tar bytes: a file of 3000 bytes is a tar of 4608
    await fleet.admin.post('/projects', { name: 'disk', quotas: { diskBytes: 8000 } });
    const disk = await token('disk-op', 'operator', 'disk');
    const upload = (name: string, bytes: number) =>
      rawRequest(`${fleet.url}/api/v1/images?name=${name}`, 'POST', {
        token: disk.token!,
        body: rawTar([{ name: 'blob', body: Buffer.alloc(bytes, 7) }]),
        headers: { 'content-type': 'application/x-tar' },
      });
    expect((await upload('small', 3000)).status).toBe(201);
    const over = await upload('large', 3000);
    expect([over.status, over.body.error.code]).toEqual([403, 'QUOTA_EXCEEDED']);
    expect(over.body.error.details).toMatchObject({ quota: 'diskBytes', limit: 8000, used: 4608, requested: 4608 });
    expect(await count("SELECT count(*) AS n FROM image WHERE project = 'disk'")).toBe(1);
    const images = await disk.get<{ images: Array<{ name: string }> }>('/images');
    expect(images.images.map((i) => i.name)).toEqual(['busybox', 'small']);
  });
});

describe('projects and the audit trail', () => {
  it('creates, shows, changes and deletes a project; refuses a non-empty one and default', async () => {
    const created = await fleet.admin.post<ProjectView>('/projects', {
      name: 'short-lived',
      quotas: { containers: 2 },
      rawIdmapAllowed: true,
    });
    expect(created).toMatchObject({ name: 'short-lived', rawIdmapAllowed: true, quotas: { containers: { limit: 2, used: 0 } } });
    expect((await refusal(fleet.admin.post('/projects', { name: 'short-lived' }))).code).toBe('CONFLICT');
    const t = await fleet.admin.post<{ id: number }>('/tokens', { name: 'sl', role: 'viewer', project: 'short-lived' });
    const blocked = await refusal(fleet.admin.delete('/projects/short-lived'));
    expect([blocked.code, blocked.details]).toEqual([
      'CONFLICT',
      { containers: 0, images: 0, volumes: 0, tokens: 1, runs: 0, schedules: 0 },
    ]);
    await fleet.admin.delete(`/tokens/${t.id}`);
    await fleet.admin.delete('/projects/short-lived');
    expect((await refusal(fleet.admin.get('/projects/short-lived'))).code).toBe('NOT_FOUND');
    expect(await count("SELECT count(*) AS n FROM api_token WHERE project = 'short-lived'")).toBe(0);
    expect((await refusal(fleet.admin.delete('/projects/default'))).code).toBe('CONFLICT');
    expect((await refusal(fleet.admin.post('/tokens', { name: 'ghost', role: 'operator', project: 'short-lived' }))).code).toBe(
      'NOT_FOUND',
    );
  });

  it('records actor, project, action and target of every mutation; admins read it by project and time', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    await alpha.post('/containers', { name: 'audited', image: 'busybox' });
    await eventuallyRunning(alpha, 'audited');
    await alpha.post('/containers/audited/exec', { command: ['true'] });
    const { events } = await fleet.admin.get<{ events: Array<{ actor: string; project: string; action: string; target: string }> }>(
      `/audit?project=alpha&since=${encodeURIComponent(since)}`,
    );
    const mine = events.filter((e) => e.target === 'audited').map((e) => [e.actor, e.project, e.action]);
    expect(mine).toEqual([
      ['alpha-op', 'alpha', 'container.exec'],
      ['alpha-op', 'alpha', 'container.create'],
    ]);
    const all = await fleet.admin.get<{ events: Array<{ project: string | null; action: string; target: string }> }>('/audit?limit=1000');
    expect(all.events.some((e) => e.action === 'project.create' && e.target === 'crowd' && e.project === 'crowd')).toBe(true);
    expect(all.events.some((e) => e.project === 'beta')).toBe(true);
    expect((await refusal(alpha.get('/audit'))).code).toBe('FORBIDDEN');
  });
});
