// Runs on a real bridge: a run's container gets an address of the node's subnet while it runs,
// and its address, veth and table elements go with it.
import type { RunOutputView, RunView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNetworkFleet, type NetworkFleet } from './support/network-fleet';
import { eventually } from './support/test-server';

let net: NetworkFleet;

beforeAll(async () => {
  net = await startNetworkFleet({ slices: 16, quarantineSeconds: 0 });
}, 60_000);
afterAll(async () => net?.stop());

const submit = async (spec: Record<string, unknown>) =>
  (await net.fleet.admin.post<{ run: RunView }>('/runs', { image: 'busybox', timeoutSeconds: 30, network: { mode: 'bridge' }, ...spec }))
    .run;
const waitFor = (id: string) => net.fleet.admin.get<RunView>(`/runs/${id}/wait?timeoutSeconds=30`);
const outputOf = (id: string) => net.fleet.admin.get<RunOutputView>(`/runs/${id}/output`);
/** What a run left of its network: address leases, host ends of veths, and the bridge's port elements. */
const leftovers = async () => ({
  leases: await net.count('SELECT count(*) AS n FROM ip_lease'),
  veths: net.ports().length,
  ports: net.elements('bridge', 'set', 'ports').length,
});

describe('runs on the bridge', () => {
  it('gives a run an address of the subnet, with the bridge as its route out, and takes it all back after', async () => {
    const prefix = net.cidr.split('.').slice(0, 3).join('.');
    const run = await submit({ command: ['/bin/sh', '-c', 'ip -4 -o addr show scope global; ip route show default; sleep 1'] });
    // while it runs (launched: its veth is made after its lease): one lease, one veth on the bridge
    await eventually(async () => ((await net.fleet.admin.get<RunView>(`/runs/${run.id}`)).slice ? true : undefined), 15_000, 'launched');
    expect(await leftovers()).toEqual({ leases: 1, veths: 1, ports: 1 });
    const { rows } = await net.fleet.db.pool.query<{ address: string }>('SELECT host(address) AS address FROM ip_lease');
    const address = rows[0]!.address;
    expect(address.startsWith(`${prefix}.`)).toBe(true);

    expect(await waitFor(run.id)).toMatchObject({ state: 'succeeded', exitCode: 0 });
    const [addr, route] = (await outputOf(run.id)).stdout.trim().split('\n');
    expect(addr).toContain(` inet ${address}/24 `);
    expect(route?.trim()).toBe(`default via ${net.gateway} dev ${addr!.split(/\s+/)[1]}`);
    await eventually(
      async () => {
        const left = await leftovers();
        return left.leases === 0 && left.veths === 0 && left.ports === 0 ? true : undefined;
      },
      10_000,
      'nothing of the run left on the network',
    );
  }, 60_000);

  it('frees the address of a cancelled run and a timed-out one', async () => {
    const cancelled = await submit({ command: ['sleep', '60'] });
    const timedOut = await submit({ command: ['sleep', '60'], timeoutSeconds: 2 });
    await eventually(async () => ((await leftovers()).leases === 2 ? true : undefined), 15_000, 'both runs leased an address');
    await net.fleet.admin.delete(`/runs/${cancelled.id}`);
    expect((await waitFor(timedOut.id)).state).toBe('timedOut');
    await eventually(
      async () => {
        const left = await leftovers();
        return left.leases === 0 && left.veths === 0 && left.ports === 0 ? true : undefined;
      },
      10_000,
      'nothing of either run left on the network',
    );
  }, 60_000);
});
