import { ApiError, type ProjectView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../src/cli/api-client';
import { idler, type NetworkFleet, startNetworkFleet } from './support/network-fleet';
import { eventually } from './support/test-server';

// The networkInterfaces quota (the lxc-usernet analogue) on a node with a real bridge: of 16
// parallel creates exactly N run, each with its veth and address; the refused leave no row, no
// host port, no address and no veth; N+1 alone is refused too; a delete gives one back.

const N = 3;
let net: NetworkFleet;
let operator: ApiClient;

const inProject = (sql: string) => `${sql} WHERE c.project = 'netq'`;
const leases = () => net.count(inProject('SELECT count(*) AS n FROM ip_lease l JOIN container c ON c.id = l.container_id'));

beforeAll(async () => {
  net = await startNetworkFleet();
  await net.fleet.admin.post('/projects', { name: 'netq', quotas: { networkInterfaces: N } });
  const { token } = await net.fleet.admin.post<{ token: string }>('/tokens', { name: 'netq-op', role: 'operator', project: 'netq' });
  operator = net.fleet.client(token);
}, 60_000);

afterAll(async () => {
  await net?.stop();
});

describe('the networkInterfaces quota on a real bridge', () => {
  it(`runs exactly ${N} of 16 parallel creates, and the refused leave nothing behind`, async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 16 }, (_, i) =>
        operator.post(
          '/containers',
          idler(`q${i}`, { network: { mode: 'bridge', publish: [{ hostPort: 31_000 + i, containerPort: 80, protocol: 'tcp' }] } }),
        ),
      ),
    );
    const accepted = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [`q${i}`] : []));
    expect(accepted).toHaveLength(N);
    for (const o of outcomes) {
      if (o.status === 'rejected') {
        expect((o.reason as ApiError).code).toBe('QUOTA_EXCEEDED');
        expect((o.reason as ApiError).details).toMatchObject({ quota: 'networkInterfaces', limit: N, requested: 1 });
      }
    }
    for (const name of accepted) await net.running(name, 'netq');
    expect(net.ports()).toHaveLength(N);
    expect(await leases()).toBe(N);
    expect(await net.count(`SELECT count(*) AS n FROM container WHERE project = 'netq'`)).toBe(N);
    expect(await net.count('SELECT count(*) AS n FROM host_port')).toBe(N);
    expect(net.elements('bridge', 'set', 'ports')).toHaveLength(N);
    expect(net.elements('inet', 'map', 'dnat_any')).toHaveLength(N);
  }, 60_000);

  it('refuses interface N+1 alone, with nothing left behind; a delete gives one back', async () => {
    const refused = await operator.post('/containers', idler('extra')).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).code).toBe('QUOTA_EXCEEDED');
    expect(net.ports()).toHaveLength(N);
    expect(await leases()).toBe(N);
    expect((await net.fleet.admin.get<ProjectView>('/projects/netq')).quotas.networkInterfaces).toEqual({ limit: N, used: N });

    const [first] = (await net.fleet.db.pool.query<{ name: string }>(`SELECT name FROM container WHERE project = 'netq' LIMIT 1`)).rows;
    await operator.delete(`/containers/${first!.name}?force=1`);
    await eventually(
      async () => ((await net.count(`SELECT count(*) AS n FROM container WHERE project = 'netq'`)) === N - 1 ? true : undefined),
      20_000,
      'the delete',
    );
    await eventually(async () => (net.ports().length === N - 1 ? true : undefined), 5_000, 'its veth gone');
    await operator.post('/containers', idler('extra'));
    await net.running('extra', 'netq');
    expect(net.ports()).toHaveLength(N);
    expect(await leases()).toBe(N);
  }, 60_000);
});
