import { ApiError, macOf, type ContainerView, type NetworkView, type ProjectView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../src/cli/api-client';
import { Db } from '../src/store/db';
import { NetworkStore } from '../src/store/network-store';
import { runCli } from '../../../e2e/support/system';
import { ADMIN_TOKEN, startTestFleet, waitRunning, type TestFleet } from './support/test-server';
import { refusal } from './support/test-helpers';

// Container networking through the REST API, the Postgres side: a create without `network`
// behaves as before (mode none); bridge mode needs a node with a subnet; a taken host port is
// CONFLICT at create; the networkInterfaces quota; GET /networks.

let fleet: TestFleet;
let db: Db;
let networks: NetworkStore;

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await fleet.db.pool.query<{ n: string }>(sql, values);
  return Number(rows[0]!.n);
}

const publish = (hostPort: number, hostIp?: string) => ({ hostPort, containerPort: 80, protocol: 'tcp', ...(hostIp ? { hostIp } : {}) });

beforeAll(async () => {
  // bridge is the product's default network mode (the test fleets' is none)
  fleet = await startTestFleet({ slices: 32, env: { NAGAYA_DEFAULT_NETWORK_MODE: 'bridge' } });
  db = new Db(fleet.db.url, 4);
  networks = new NetworkStore(db);
}, 60_000);
afterAll(async () => {
  await db?.close();
  await fleet?.stop();
});

describe('container networks through the API', () => {
  it('gives a create without network the default, bridge: refused with the way out while no node is networked', async () => {
    const err = await refusal(fleet.admin.post('/containers', { name: 'plain', image: 'busybox' }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/no container network.*NAGAYA_DEFAULT_NETWORK_MODE.*"mode": "none"/);
    expect(await count(`SELECT count(*) AS n FROM container WHERE name = 'plain'`)).toBe(0);
    await fleet.admin.post('/containers', { name: 'plain', image: 'busybox', network: { mode: 'none' } });
    const c = await waitRunning<ContainerView>(fleet, 'plain');
    expect(c.network).toEqual({ mode: 'none', ip: null, mac: null, gateway: null, bridge: null, publish: [] });
    const project = await fleet.admin.get<ProjectView>('/projects/default');
    expect(project.quotas.networkInterfaces.used).toBe(0);
  });

  it('refuses bridge mode while no node has set up networking, and a publish without bridge mode', async () => {
    const err = await refusal(fleet.admin.post('/containers', { name: 'early', image: 'busybox', network: { mode: 'bridge' } }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/no container network/);
    const bad = await refusal(
      fleet.admin.post('/containers', { name: 'early', image: 'busybox', network: { mode: 'none', publish: [publish(80)] } }),
    );
    expect(bad.code).toBe('INVALID_INPUT');
    expect(await count(`SELECT count(*) AS n FROM container WHERE name = 'early'`)).toBe(0);
  });

  it('creates a bridge container with its ports, shows its address once leased, and refuses a taken port with CONFLICT', async () => {
    const subnet = await networks.ensureSubnet(fleet.base.nodeName, {
      cidr: fleet.base.networkCidr,
      prefix: fleet.base.networkNodePrefix,
      bridge: 'nagaya0',
    });
    expect(subnet.cidr).toBe('10.88.0.0/24');
    const created = await fleet.admin.post<{ container: ContainerView }>('/containers', {
      name: 'web',
      image: 'busybox',
      network: { mode: 'bridge', publish: [publish(8080, '127.0.0.1'), { hostPort: 5353, containerPort: 53, protocol: 'udp' }] },
    });
    expect(created.container.network).toMatchObject({ mode: 'bridge', ip: null, publish: [publish(8080, '127.0.0.1'), expect.anything()] });
    // what the worker will do in its claim
    const lease = await networks.lease(created.container.id, fleet.base.nodeName);
    const web = await fleet.admin.get<ContainerView>('/containers/web');
    expect(web.network).toEqual({
      mode: 'bridge',
      ip: lease.address,
      mac: macOf(lease.address),
      gateway: '10.88.0.1',
      bridge: 'nagaya0',
      publish: [publish(8080, '127.0.0.1'), { hostPort: 5353, containerPort: 53, protocol: 'udp' }],
    });
    const listed = await fleet.admin.get<{ containers: ContainerView[] }>('/containers');
    expect(listed.containers.find((c) => c.name === 'web')?.network.ip).toBe(lease.address);

    // 0.0.0.0 overlaps 127.0.0.1: refused before any job, nothing written
    const jobs = await count('SELECT count(*) AS n FROM job');
    const err = await refusal(
      fleet.admin.post('/containers', { name: 'web2', image: 'busybox', network: { mode: 'bridge', publish: [publish(8080)] } }),
    );
    expect(err.code).toBe('CONFLICT');
    expect(err.details).toMatchObject({ field: 'network.publish', taken: [{ hostPort: 8080, protocol: 'tcp', hostIp: '0.0.0.0' }] });
    expect(await count(`SELECT count(*) AS n FROM container WHERE name = 'web2'`)).toBe(0);
    expect(await count('SELECT count(*) AS n FROM job')).toBe(jobs);
    // another address on the same port is free
    await fleet.admin.post('/containers', {
      name: 'web3',
      image: 'busybox',
      network: { mode: 'bridge', publish: [publish(8080, '10.9.9.9')] },
    });

    // a delete gives back the address and the ports
    await fleet.admin.delete('/containers/web?force=1');
    await waitGone('web');
    expect(await count('SELECT count(*) AS n FROM ip_lease WHERE container_id = $1', [created.container.id])).toBe(0);
    expect(await count('SELECT count(*) AS n FROM host_port WHERE container_id = $1', [created.container.id])).toBe(0);
    // web3 still holds 10.9.9.9:8080, so the wildcard stays refused; web's 127.0.0.1:8080 is free again
    expect(
      (
        await refusal(
          fleet.admin.post('/containers', { name: 'web2', image: 'busybox', network: { mode: 'bridge', publish: [publish(8080)] } }),
        )
      ).code,
    ).toBe('CONFLICT');
    await fleet.admin.post('/containers', {
      name: 'web2',
      image: 'busybox',
      network: { mode: 'bridge', publish: [publish(8080, '127.0.0.1')] },
    });
  });

  it('lists each node subnet and its use to a viewer', async () => {
    const viewer = await token('net-viewer', 'viewer', 'default');
    const { networks: list } = await viewer.get<{ networks: NetworkView[] }>('/networks');
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ node: fleet.base.nodeName, cidr: '10.88.0.0/24', gateway: '10.88.0.1', bridge: 'nagaya0' });
    expect(list[0]!.addresses.total).toBe(253);
    expect(list[0]!.addresses.leased + list[0]!.addresses.free).toBe(253);
    expect(list[0]!.hostPorts).toBe(await count('SELECT count(*) AS n FROM host_port'));
    expect(list[0]!.hostPorts).toBeGreaterThanOrEqual(2);
  });

  it('is driven from the CLI: launch --publish, info, list, networks', async () => {
    const env = { NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN };
    const launched = await runCli(['launch', 'cliweb', '--publish', '127.0.0.2:9090:80/udp', '--publish', '9191:91', '--json'], env);
    expect(launched.code, launched.stderr).toBe(0);
    const sent = JSON.parse(launched.stdout) as { container: ContainerView };
    expect(sent.container.network).toMatchObject({
      mode: 'bridge',
      publish: [
        { hostPort: 9090, containerPort: 80, protocol: 'udp', hostIp: '127.0.0.2' },
        { hostPort: 9191, containerPort: 91, protocol: 'tcp' },
      ],
    });
    const lease = await networks.lease(sent.container.id, fleet.base.nodeName);
    const info = await runCli(['info', 'cliweb'], env);
    expect(info.stdout).toContain(`network: bridge ${lease.address} via 10.88.0.1 on nagaya0, mac ${macOf(lease.address)}`);
    expect(info.stdout).toContain('publish 127.0.0.2:9090 -> 80/udp');
    expect((await runCli(['list'], env)).stdout).toContain(lease.address);
    const net = await runCli(['networks'], env);
    expect(net.stdout).toMatch(/node-a\s+10\.88\.0\.0\/24\s+10\.88\.0\.1\s+nagaya0/);
    const taken = await runCli(['launch', 'cliweb2', '--publish', '9191:80'], env);
    expect(taken.code).toBe(4); // CONFLICT
    expect(taken.stderr).toMatch(/already published/);
    const bad = await runCli(['launch', 'cliweb3', '--publish', 'localhost:1:2'], env);
    expect(bad.code).toBe(2);
  });

  it('keeps the networkInterfaces quota under 16 parallel creates, leaving nothing of the refused', async () => {
    await fleet.admin.post('/projects', { name: 'netq', quotas: { networkInterfaces: 2 } });
    const op = await token('netq-op', 'operator', 'netq');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 16 }, (_, i) =>
        op.post('/containers', { name: `n${i}`, image: 'busybox', network: { mode: 'bridge', publish: [publish(30000 + i)] } }),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(2);
    for (const o of outcomes) {
      if (o.status === 'rejected') {
        expect((o.reason as ApiError).code).toBe('QUOTA_EXCEEDED');
        expect((o.reason as ApiError).details).toMatchObject({ quota: 'networkInterfaces', limit: 2, used: 2, requested: 1 });
      }
    }
    expect(await count(`SELECT count(*) AS n FROM container WHERE project = 'netq'`)).toBe(2);
    expect(await count('SELECT count(*) AS n FROM host_port WHERE port BETWEEN 30000 AND 30015')).toBe(2);
    expect(await count(`SELECT count(*) AS n FROM job WHERE project = 'netq'`)).toBe(2);
    // N+1 alone is refused too; a container without an interface fits
    expect((await refusal(op.post('/containers', { name: 'n99', image: 'busybox', network: { mode: 'bridge' } }))).code).toBe(
      'QUOTA_EXCEEDED',
    );
    await op.post('/containers', { name: 'n100', image: 'busybox', network: { mode: 'none' } });
    const project = await fleet.admin.get<ProjectView>('/projects/netq');
    expect(project.quotas.networkInterfaces).toEqual({ limit: 2, used: 2 });
  });
});

async function token(name: string, role: string, project: string): Promise<ApiClient> {
  const created = await fleet.admin.post<{ token: string }>('/tokens', { name, role, project });
  return fleet.client(created.token);
}

async function waitGone(name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const gone = await fleet.admin.get(`/containers/${name}`).then(
      () => false,
      (err: unknown) => err instanceof ApiError && err.code === 'NOT_FOUND',
    );
    if (gone) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} was not deleted`);
}
