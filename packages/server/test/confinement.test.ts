import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityNumbers } from '../../native/test/support/confinement-probe';
import { ADMIN_TOKEN, startTestFleet, waitRunning, type TestFleet } from './support/test-server';
import { rawRequest } from './support/test-helpers';

// security.nesting through the API: only admins may set it, it is kept with the container, and
// it reaches the container's seccomp filter; without it a container is confined Docker-style.

interface Container {
  name: string;
  state: string;
  security: { nesting: boolean };
  error: unknown;
}
interface Exec {
  exitCode: number;
  stdout: string;
  stderr: string;
}

let fleet: TestFleet;
let operatorToken: string;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 4 });
  operatorToken = (await fleet.admin.post<{ token: string }>('/tokens', { name: 'op', role: 'operator' })).token;
});
afterAll(async () => {
  await fleet?.stop();
});

const running = (name: string) => waitRunning<Container>(fleet, name);

const exec = (name: string, command: string[]) => fleet.admin.post<Exec>(`/containers/${name}/exec`, { command });

async function containerCount(): Promise<number> {
  const { rows } = await fleet.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM container');
  return Number(rows[0]!.n);
}

describe('security.nesting', () => {
  it('is refused to an operator token with 403 FORBIDDEN, and nothing is created', async () => {
    const res = await rawRequest(`${fleet.url}/api/v1/containers`, 'POST', {
      token: operatorToken,
      body: JSON.stringify({ name: 'nested', image: 'busybox', security: { nesting: true } }),
    });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
    expect(res.body.error.details).toEqual({ field: 'security.nesting' });
    expect(await containerCount()).toBe(0);
  });

  it('refuses a value that is not a boolean, and unknown security options', async () => {
    for (const security of [{ nesting: 'true' }, { privileged: true }]) {
      const res = await rawRequest(`${fleet.url}/api/v1/containers`, 'POST', {
        token: ADMIN_TOKEN,
        body: JSON.stringify({ name: 'nested', image: 'busybox', security }),
      });
      expect(res.status, JSON.stringify(security)).toBe(400);
      expect(res.body.error.code).toBe('INVALID_INPUT');
    }
    expect(await containerCount()).toBe(0);
  });

  it('is accepted from an admin token, kept with the container across a restart, and lets it make user namespaces only', async () => {
    await fleet.admin.post('/containers', { name: 'nested', image: 'busybox', security: { nesting: true } });
    expect((await running('nested')).security).toEqual({ nesting: true });
    expect((await exec('nested', ['unshare', '-U', 'true'])).exitCode).toBe(0);
    const net = await exec('nested', ['unshare', '-U', '-n', 'true']);
    expect(net.exitCode).not.toBe(0);
    expect(net.stderr).toMatch(/Operation not permitted/);

    await fleet.admin.waitForJob((await fleet.admin.post<{ job: { id: string } }>('/containers/nested/restart', {})).job.id);
    await running('nested');
    expect((await exec('nested', ['unshare', '-U', 'true'])).exitCode).toBe(0);
  });

  it("is off for an operator's container: Docker's capabilities, seccomp on, no user namespaces", async () => {
    const res = await rawRequest(`${fleet.url}/api/v1/containers`, 'POST', {
      token: operatorToken,
      body: JSON.stringify({ name: 'plain', image: 'busybox' }),
    });
    expect(res.status).toBe(202);
    expect((await running('plain')).security).toEqual({ nesting: false });
    const unshare = await exec('plain', ['unshare', '-U', 'true']);
    expect(unshare.exitCode).not.toBe(0);
    expect(unshare.stderr).toMatch(/Operation not permitted/);
    const status = (await exec('plain', ['cat', '/proc/self/status'])).stdout;
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    const bounding = capabilityNumbers(/^CapBnd:\s+(\w+)$/m.exec(status)![1]!);
    expect(bounding).toEqual([0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31]);
  });
});
