import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNagaya, type NagayaServer } from '@nagaya/server';
import { TOKEN_TRUST_MS } from '../src/store/token-cache';
import { ADMIN_TOKEN, eventually, startTestFleet, type TestFleet } from './support/test-server';
import { rawRequest } from './support/test-helpers';

/**
 * Token lifecycle through the API: list (never a secret or its hash), revoke (refused from the
 * very next request by the API process that revoked it, and within TOKEN_TRUST_MS, a second, by
 * another one that used the token a moment before), expiry (401 TOKEN_EXPIRED from the expiry
 * on, also for a token trusted a moment before), and who may do it (admins only; never the last
 * admin token).
 */

let fleet: TestFleet;
/** A second API process on the same database: what a load-balanced deployment has. */
let second: NagayaServer;

beforeAll(async () => {
  fleet = await startTestFleet({ role: 'api', slices: 2 });
  second = await startNagaya({ ...fleet.base, role: 'api', port: 0, nodeName: 'api-2' });
}, 120_000);
afterAll(async () => {
  await second?.close();
  await fleet?.stop();
});

interface Created {
  token: string;
  id: number;
  name: string;
  role: string;
  createdAt: string;
  expiresAt: string | null;
}

async function create(name: string, role: string, extra: Record<string, unknown> = {}): Promise<Created> {
  return fleet.admin.post<Created>('/tokens', { name, role, ...extra });
}

function as(token: string, method: string, path: string, body?: unknown, base = fleet.url) {
  return rawRequest(`${base}/api/v1${path}`, method, { token, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

async function tokenRows(): Promise<number> {
  const { rows } = await fleet.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM api_token');
  return Number(rows[0]!.n);
}

describe('tokens', () => {
  it('lists every token with its dates, never a secret or a hash', async () => {
    const op = await create('lister-op', 'operator');
    expect((await as(op.token, 'GET', '/whoami')).status).toBe(200);
    const res = await as(ADMIN_TOKEN, 'GET', '/tokens');
    expect(res.status).toBe(200);
    const listed = (res.body.tokens as Array<Record<string, unknown>>).find((t) => t.id === op.id)!;
    expect(Object.keys(listed).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'project', 'revokedAt', 'role']);
    expect(listed).toMatchObject({ name: 'lister-op', role: 'operator', expiresAt: null, revokedAt: null });
    for (const secret of [op.token, ADMIN_TOKEN]) {
      expect(res.text).not.toContain(secret);
      expect(res.text).not.toContain(createHash('sha256').update(secret).digest('hex'));
    }
    // lastUsedAt is written after the answer, not before it
    await eventually(
      async () => {
        const again = (await as(ADMIN_TOKEN, 'GET', '/tokens')).body.tokens.find((t: { id: number }) => t.id === op.id);
        return again.lastUsedAt ? true : undefined;
      },
      5000,
      'lastUsedAt',
    );
  });

  it('a revoked token is refused on the next request by the process that revoked it, within a second by every other', async () => {
    const op = await create('to-revoke', 'operator');
    // used on both processes first, so both trust it for the next second
    expect((await as(op.token, 'GET', '/containers')).status).toBe(200);
    expect((await as(op.token, 'GET', '/containers', undefined, second.url)).status).toBe(200);
    const revokedAt = performance.now();
    const revoked = await as(ADMIN_TOKEN, 'DELETE', `/tokens/${op.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: op.id, name: 'to-revoke' });
    expect(revoked.body.revokedAt).toBeTruthy();
    const first = await as(op.token, 'GET', '/containers');
    expect(first.status).toBe(401);
    expect(first.body.error.code).toBe('UNAUTHORIZED');
    // the other process: refused once its trust lapses, TOKEN_TRUST_MS after it last looked
    const refused = await eventually(
      async () => {
        const res = await as(op.token, 'GET', '/containers', undefined, second.url);
        return res.status === 200 ? undefined : res;
      },
      TOKEN_TRUST_MS + 2000,
      'the other process refuses the revoked token',
      20,
    );
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('UNAUTHORIZED');
    expect(performance.now() - revokedAt).toBeLessThan(TOKEN_TRUST_MS + 500);
    // once only
    const twice = await as(ADMIN_TOKEN, 'DELETE', `/tokens/${op.id}`);
    expect(twice.status).toBe(404);
    expect(twice.body.error.code).toBe('NOT_FOUND');
    const listed = (await as(ADMIN_TOKEN, 'GET', '/tokens')).body.tokens.find((t: { id: number }) => t.id === op.id);
    expect(listed.revokedAt).toBe(revoked.body.revokedAt);
  });

  it('an expired token is refused with 401 TOKEN_EXPIRED', async () => {
    const before = Date.now();
    const short = await create('short-lived', 'viewer', { expiresInSeconds: 2 });
    expect(Date.parse(short.expiresAt!) - before).toBeGreaterThan(1000);
    expect(Date.parse(short.expiresAt!) - before).toBeLessThan(4000);
    expect((await as(short.token, 'GET', '/containers')).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(short.expiresAt!) - Date.now()) + 200));
    for (const base of [fleet.url, second.url]) {
      const res = await as(short.token, 'GET', '/containers', undefined, base);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('TOKEN_EXPIRED');
    }
    // a token that never was is told nothing about expiry
    expect((await as('ngy_never-issued', 'GET', '/containers')).body.error.code).toBe('UNAUTHORIZED');
  });

  it('a token trusted a moment before is refused from its expiry on, not a second later', async () => {
    const short = await create('one-second', 'viewer', { expiresInSeconds: 1 });
    const expiresAt = Date.parse(short.expiresAt!);
    // looked up (and trusted) with less than TOKEN_TRUST_MS left before it expires
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() - 600)));
    const used = await as(short.token, 'GET', '/containers');
    expect(used.status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 50));
    expect(Date.now() - expiresAt).toBeLessThan(TOKEN_TRUST_MS - 400);
    const res = await as(short.token, 'GET', '/containers');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('TOKEN_EXPIRED');
  });

  it('refuses a bad expiresInSeconds and a bad token id with 400, storing nothing', async () => {
    const rows = await tokenRows();
    for (const expiresInSeconds of [0, -5, 1.5, '60', 10 * 365 * 86400 + 1, null]) {
      const res = await as(ADMIN_TOKEN, 'POST', '/tokens', { name: 'bad', role: 'viewer', expiresInSeconds });
      expect(res.status, JSON.stringify(expiresInSeconds)).toBe(400);
      expect(res.body.error.code).toBe('INVALID_INPUT');
    }
    for (const id of ['abc', '0', '-1', '1e3', '99999999999999999999']) {
      const res = await as(ADMIN_TOKEN, 'DELETE', `/tokens/${id}`);
      expect(res.status, id).toBe(400);
    }
    expect((await as(ADMIN_TOKEN, 'DELETE', '/tokens/987654321')).status).toBe(404);
    expect(await tokenRows()).toBe(rows);
  });

  it('an operator or a viewer may neither list nor revoke nor create tokens', async () => {
    const op = await create('nosy-op', 'operator');
    const viewer = await create('nosy-viewer', 'viewer');
    const victim = await create('victim-admin', 'admin');
    for (const t of [op.token, viewer.token]) {
      for (const [method, path, body] of [
        ['GET', '/tokens'],
        ['DELETE', `/tokens/${victim.id}`],
        ['POST', '/tokens', { name: 'x', role: 'admin' }],
      ] as const) {
        const res = await as(t, method, path, body);
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(res.body.error.code).toBe('FORBIDDEN');
      }
    }
    expect((await as(victim.token, 'GET', '/tokens')).status).toBe(200);
  });

  it('never revokes the last admin token; an admin may revoke its own token otherwise', async () => {
    // the admin tokens the earlier cases made go first, then the configured one is the last
    const { tokens } = (await as(ADMIN_TOKEN, 'GET', '/tokens')).body as {
      tokens: Array<{ id: number; role: string; name: string; revokedAt: string | null }>;
    };
    const self = await create('self-revoker', 'admin');
    expect((await as(self.token, 'DELETE', `/tokens/${self.id}`)).status).toBe(200);
    expect((await as(self.token, 'GET', '/whoami')).status).toBe(401);
    for (const t of tokens.filter((x) => x.role === 'admin' && !x.revokedAt && x.name !== 'admin')) {
      expect((await as(ADMIN_TOKEN, 'DELETE', `/tokens/${t.id}`)).status).toBe(200);
    }
    const configured = tokens.find((x) => x.name === 'admin')!;
    const last = await as(ADMIN_TOKEN, 'DELETE', `/tokens/${configured.id}`);
    expect(last.status).toBe(409);
    expect(last.body.error.code).toBe('CONFLICT');
    expect(last.body.error.message).toMatch(/last admin token/);
    expect((await as(ADMIN_TOKEN, 'GET', '/whoami')).status).toBe(200);
    // two admins revoking each other at once: one wins (the other gets 409, or 401 when its own
    // token was revoked before its request was authenticated), and one admin is left
    const a = await create('race-a', 'admin');
    const results = await Promise.all([as(a.token, 'DELETE', `/tokens/${configured.id}`), as(ADMIN_TOKEN, 'DELETE', `/tokens/${a.id}`)]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409 || r.status === 401)).toHaveLength(1);
    const { rows } = await fleet.db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM api_token WHERE role = 'admin' AND revoked_at IS NULL`,
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });
});
