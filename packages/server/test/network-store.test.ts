import { macOf } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newContainer as aContainer } from './support/container-rows';
import { NagayaError } from '../src/errors';
import { ContainerStore, type NewContainer } from '../src/store/container-store';
import { Db } from '../src/store/db';
import { NetworkStore } from '../src/store/network-store';
import { createTestDatabase, type TestDatabase } from '../../allocator/test/support/test-database';

// The database keeps container networks disjoint: subnets per node (exclusion constraint),
// addresses per subnet (unique constraint, leased with advisory try-locks), published host ports
// per node (exclusion constraint in which 0.0.0.0 overlaps every address), and the
// networkInterfaces quota in the container insert's own trigger.

const FLEET = { cidr: '10.88.0.0/16', prefix: 24, bridge: 'nagaya0' };

let tdb: TestDatabase;
let db: Db;
let networks: NetworkStore;
let containers: ContainerStore;

async function addNode(name: string): Promise<void> {
  await db.query('INSERT INTO node (name) VALUES ($1) ON CONFLICT DO NOTHING', [name]);
}

function newContainer(over: Partial<NewContainer> = {}): NewContainer {
  return aContainer({ network: { mode: 'bridge' }, ...over });
}

async function create(over: Partial<NewContainer> = {}) {
  const c = newContainer(over);
  return containers.create(c, { launchJobId: `launch-${c.id}`, queue: `q-${c.node}`, actor: 'test' });
}

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: string }>(sql, values);
  return Number(rows[0]!.n);
}

async function refusal(call: Promise<unknown>): Promise<NagayaError> {
  const outcome = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome, 'the call should have been refused').toBeInstanceOf(NagayaError);
  return outcome as NagayaError;
}

beforeAll(async () => {
  tdb = await createTestDatabase('nagaya_net');
  // 16 connections: as many concurrent transactions as the tests need, without crowding a shared Postgres
  db = new Db(tdb.url, 16);
  networks = new NetworkStore(db);
  containers = new ContainerStore(db);
});
afterAll(async () => {
  if (db) {
    // the counters the triggers keep equal what the rows add up to, after everything below
    const { rows } = await db.query(
      `SELECT r.project FROM project_usage_recount r JOIN project_usage u USING (project)
        WHERE (r.containers, r.network_interfaces) IS DISTINCT FROM (u.containers, u.network_interfaces)`,
    );
    expect(rows).toEqual([]);
    await db.close();
  }
  await tdb?.drop();
});

describe('subnets per node', () => {
  it('gives 8 nodes ensuring at once 8 disjoint /24s of the fleet network, and each the same one again', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `node-${i}`);
    for (const n of names) await addNode(n);
    // each node twice at once: ensure is idempotent under a race with itself too
    const got = await Promise.all([...names, ...names].map((n) => networks.ensureSubnet(n, FLEET)));
    const byNode = new Map<string, string>();
    for (const s of got) {
      expect(s.cidr).toMatch(/^10\.88\.\d+\.0\/24$/);
      if (byNode.has(s.node)) expect(s.cidr).toBe(byNode.get(s.node));
      byNode.set(s.node, s.cidr);
    }
    expect(byNode.size).toBe(8);
    expect(new Set(byNode.values()).size).toBe(8);
    // Postgres's own overlap operator agrees: no two subnets overlap
    expect(await count('SELECT count(*) AS n FROM node_subnet a JOIN node_subnet b ON a.node < b.node AND a.cidr && b.cidr')).toBe(0);
    // they are the first eight, in the fleet's network
    expect([...byNode.values()].sort()).toEqual(Array.from({ length: 8 }, (_, i) => `10.88.${i}.0/24`).sort());
    const again = await networks.ensureSubnet('node-3', FLEET);
    expect(again.cidr).toBe(byNode.get('node-3'));
    expect(again.gateway).toBe(again.cidr.replace(/0\/24$/, '1'));
  });

  it('refuses an overlapping subnet by constraint, whoever writes it', async () => {
    await addNode('rogue');
    const err = await db.query(`INSERT INTO node_subnet (node, cidr, bridge) VALUES ('rogue', '10.88.0.128/25', 'x')`).catch((e) => e);
    expect((err as { code?: string }).code).toBe('23P01');
  });

  it('refuses a node when the fleet network is full, with a clear error', async () => {
    for (const n of ['tiny-a', 'tiny-b', 'tiny-c']) await addNode(n);
    const tiny = { cidr: '10.99.0.0/23', prefix: 24, bridge: 'nagaya0' };
    await networks.ensureSubnet('tiny-a', tiny);
    await networks.ensureSubnet('tiny-b', tiny);
    const err = await refusal(networks.ensureSubnet('tiny-c', tiny));
    expect(err.code).toBe('POOL_EXHAUSTED');
    expect(err.message).toMatch(/10\.99\.0\.0\/23 has no free \/24/);
  });
});

describe('addresses per container', () => {
  it('gives 200 concurrent leases in one /24 200 distinct addresses, then refuses the 254th', async () => {
    await addNode('node-a');
    const subnet = await networks.ensureSubnet('node-a', FLEET);
    const made = await Promise.all(Array.from({ length: 253 }, () => create({ node: 'node-a' })));
    const ids = made.map((m) => m.row.id);
    const first = await Promise.all(ids.slice(0, 200).map((id) => networks.lease(id, 'node-a')));
    const addresses = first.map((l) => l.address);
    expect(new Set(addresses).size).toBe(200);
    const prefix = subnet.cidr.replace(/0\/24$/, '');
    for (const a of addresses) {
      expect(a.startsWith(prefix)).toBe(true);
      const last = Number(a.split('.')[3]);
      expect(last).toBeGreaterThanOrEqual(2);
      expect(last).toBeLessThanOrEqual(254);
    }
    expect(first.every((l) => l.gateway === `${prefix}1` && l.bridge === 'nagaya0' && l.prefix === 24 && l.created)).toBe(true);
    // idempotent per container
    const again = await networks.lease(ids[0]!, 'node-a');
    expect(again).toMatchObject({ address: first[0]!.address, created: false });
    // the rest of the subnet: exactly 253 addresses (.2 to .254)
    const rest = await Promise.all(ids.slice(200).map((id) => networks.lease(id, 'node-a')));
    const all = new Set([...addresses, ...rest.map((l) => l.address)]);
    expect(all.size).toBe(253);
    const extra = await create({ node: 'node-a' });
    const err = await refusal(networks.lease(extra.row.id, 'node-a'));
    expect(err.code).toBe('POOL_EXHAUSTED');
    expect(err.message).toMatch(/subnet 10\.88\.\d+\.0\/24 of node node-a has no free address/);
    // a release frees exactly that address for the next lease; a delete frees by cascade
    expect(await networks.release(ids[5]!)).toBe(true);
    expect(await networks.release(ids[5]!)).toBe(false);
    const reused = await networks.lease(extra.row.id, 'node-a');
    expect(reused.address).toBe(first[5]!.address);
    await containers.delete(extra.row.id);
    expect(await count('SELECT count(*) AS n FROM ip_lease WHERE container_id = $1', [extra.row.id])).toBe(0);
    for (const id of ids) await containers.delete(id);
    expect(await count(`SELECT count(*) AS n FROM ip_lease WHERE node = 'node-a'`)).toBe(0);
  });

  it('leases within the claim statement itself, and refuses a node without a subnet', async () => {
    const c = await create({ node: 'node-1' });
    const { rows } = await db.query<{ state: string; address: string }>(
      `UPDATE container SET state = 'starting' WHERE id = $1
       RETURNING state, (SELECT host(lease_address) FROM nagaya_ip_lease(id, node)) AS address`,
      [c.row.id],
    );
    expect(rows[0]!.state).toBe('starting');
    expect(rows[0]!.address).toMatch(/^10\.88\.\d+\.2$/);
    expect((await networks.leasesOf([c.row.id])).get(c.row.id)?.address).toBe(rows[0]!.address);
    await addNode('bare-node');
    const other = await create({ node: 'bare-node' });
    const err = await refusal(networks.lease(other.row.id, 'bare-node'));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/node bare-node has no subnet/);
  });

  it('gives up the address on the old node when a container moves', async () => {
    const c = await create({ node: 'node-2' });
    const before = await networks.lease(c.row.id, 'node-2');
    await db.query(`UPDATE container SET node = 'node-4' WHERE id = $1`, [c.row.id]);
    expect((await networks.leasesOf([c.row.id])).size).toBe(0);
    const after = await networks.lease(c.row.id, 'node-4');
    expect(after.cidr).not.toBe(before.cidr);
  });
});

describe('published host ports', () => {
  const publish = (hostPort: number, hostIp?: string, protocol: 'tcp' | 'udp' = 'tcp') => ({
    hostPort,
    containerPort: 80,
    protocol,
    ...(hostIp ? { hostIp } : {}),
  });
  const bridge = (...p: ReturnType<typeof publish>[]) => ({ network: { mode: 'bridge' as const, publish: p } });

  it('refuses a taken port with CONFLICT, 0.0.0.0 overlapping every address, and leaves nothing behind', async () => {
    await create({ node: 'node-5', ...bridge(publish(8080, '127.0.0.1')) });
    // the same port on another address, another protocol or another node is free
    await create({ node: 'node-5', ...bridge(publish(8080, '10.0.0.7')) });
    await create({ node: 'node-5', ...bridge(publish(8080, undefined, 'udp')) });
    await create({ node: 'node-6', ...bridge(publish(8080)) });

    const cases: Array<[string, ReturnType<typeof publish>]> = [
      ['the same address', publish(8080, '127.0.0.1')],
      ['0.0.0.0 against a specific address', publish(8080, '0.0.0.0')],
      ['an absent hostIp (every address)', publish(8080)],
    ];
    for (const [what, p] of cases) {
      const before = await count('SELECT count(*) AS n FROM container');
      const jobsBefore = await count('SELECT count(*) AS n FROM job');
      const name = `refused-${p.hostIp ?? 'any'}`.replace(/\./g, '-');
      const err = await refusal(create({ name, node: 'node-5', ...bridge(publish(9000), p) }));
      expect(err.code, what).toBe('CONFLICT');
      expect(err.message).toMatch(/already published on node node-5/);
      expect((err.details as { taken: unknown[] }).taken).toEqual([{ hostPort: 8080, protocol: 'tcp', hostIp: p.hostIp ?? '0.0.0.0' }]);
      // nothing of the refused create: no row, no reservation (9000 stays free), no job, no audit event
      expect(await count('SELECT count(*) AS n FROM container')).toBe(before);
      expect(await count(`SELECT count(*) AS n FROM host_port WHERE port = 9000`)).toBe(0);
      expect(await count('SELECT count(*) AS n FROM job')).toBe(jobsBefore);
      expect(await count(`SELECT count(*) AS n FROM audit_event WHERE target = $1`, [name])).toBe(0);
    }

    // a wildcard holder refuses a specific address too
    await create({ node: 'node-7', ...bridge(publish(443)) });
    expect((await refusal(create({ node: 'node-7', ...bridge(publish(443, '192.168.1.5')) }))).code).toBe('CONFLICT');

    // the ports go with their container
    const holder = await containers.list({ node: 'node-5' });
    for (const c of holder) await containers.delete(c.id);
    await create({ node: 'node-5', ...bridge(publish(8080)) });
  });

  it('gives one of 16 concurrent creates of the same port the port and the others CONFLICT', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 16 }, () => create({ node: 'node-7', ...bridge(publish(5353, '10.1.2.3', 'udp')) })),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect((o.reason as NagayaError).code).toBe('CONFLICT');
    expect(await count(`SELECT count(*) AS n FROM host_port WHERE port = 5353`)).toBe(1);
  });
});

describe('the networkInterfaces quota', () => {
  it('refuses interface N+1, also under 16 parallel creates, with nothing left behind; mode none is not counted', async () => {
    await db.query(`INSERT INTO project (name, quota_network_interfaces) VALUES ('netq', 3)`);
    const inProject = (over: Partial<NewContainer> = {}) => create({ project: 'netq', node: 'node-0', ...over });
    let port = 20000;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 16 }, () =>
        inProject({ network: { mode: 'bridge', publish: [{ hostPort: port++, containerPort: 80, protocol: 'tcp' }] } }),
      ),
    );
    const made = outcomes.filter((o) => o.status === 'fulfilled');
    expect(made).toHaveLength(3);
    for (const o of outcomes) {
      if (o.status === 'rejected') {
        const err = o.reason as NagayaError;
        expect(err.code).toBe('QUOTA_EXCEEDED');
        expect(err.details).toMatchObject({ project: 'netq', quota: 'networkInterfaces', limit: 3, used: 3, requested: 1 });
      }
    }
    const ids = made.map((o) => (o as PromiseFulfilledResult<Awaited<ReturnType<typeof create>>>).value.row.id);
    for (const id of ids) await networks.lease(id, 'node-0');
    // the refused 13 left no row, no port and no lease
    expect(await count(`SELECT count(*) AS n FROM container WHERE project = 'netq'`)).toBe(3);
    expect(
      await count('SELECT count(*) AS n FROM host_port h JOIN container c ON c.id = h.container_id WHERE c.project = $1', ['netq']),
    ).toBe(3);
    expect(await count(`SELECT count(*) AS n FROM host_port WHERE port >= 20000 AND port < 20016`)).toBe(3);
    expect(
      await count('SELECT count(*) AS n FROM ip_lease l JOIN container c ON c.id = l.container_id WHERE c.project = $1', ['netq']),
    ).toBe(3);
    expect(await count(`SELECT network_interfaces AS n FROM project_usage WHERE project = 'netq'`)).toBe(3);

    // N+1 refused alone too; a container without an interface still fits
    expect((await refusal(inProject())).code).toBe('QUOTA_EXCEEDED');
    await inProject({ network: { mode: 'none' } });
    await inProject({ network: undefined });
    // a delete gives its interface back
    await containers.delete(ids[0]!);
    expect(await count(`SELECT network_interfaces AS n FROM project_usage WHERE project = 'netq'`)).toBe(2);
    await inProject();
    expect(await count(`SELECT network_interfaces AS n FROM project_usage WHERE project = 'netq'`)).toBe(3);
  });
});

describe('what the kernel side reads and the reconciler repairs', () => {
  it('gives a node its subnet, leases with project, name and mac, and ports with the address they forward to', async () => {
    await addNode('node-k');
    const subnet = await networks.ensureSubnet('node-k', FLEET);
    const port = (hostPort: number) => ({ hostPort, containerPort: 80, protocol: 'tcp' as const });
    const running = await create({ node: 'node-k', name: 'k-run', network: { mode: 'bridge', publish: [port(8001)] } });
    const stopped = await create({ node: 'node-k', name: 'k-stop', network: { mode: 'bridge' } });
    const pending = await create({
      node: 'node-k',
      name: 'k-pend',
      network: { mode: 'bridge', publish: [{ ...port(8002), hostIp: '127.0.0.1' }] },
    });
    const a = await networks.lease(running.row.id, 'node-k');
    const b = await networks.lease(stopped.row.id, 'node-k');
    await containers.transition(running.row.id, [], 'running', { pid: 1 });
    await containers.transition(stopped.row.id, [], 'stopped');

    const state = await networks.forNode('node-k');
    expect(state.subnet).toMatchObject({ node: 'node-k', cidr: subnet.cidr, gateway: subnet.gateway, bridge: 'nagaya0' });
    const { rows } = await db.query<{ id: number }>(`SELECT net_id AS id FROM project WHERE name = 'default'`);
    const projectId = rows[0]!.id;
    expect(projectId).toBeGreaterThan(0);
    expect(state.leases).toEqual([
      {
        containerId: running.row.id,
        project: 'default',
        projectId,
        name: 'k-run',
        state: 'running',
        address: a.address,
        mac: macOf(a.address),
      },
      {
        containerId: stopped.row.id,
        project: 'default',
        projectId,
        name: 'k-stop',
        state: 'stopped',
        address: b.address,
        mac: macOf(b.address),
      },
    ]);
    expect(state.ports).toEqual([
      { containerId: running.row.id, hostIp: '0.0.0.0', protocol: 'tcp', hostPort: 8001, containerPort: 80, address: a.address },
      { containerId: pending.row.id, hostIp: '127.0.0.1', protocol: 'tcp', hostPort: 8002, containerPort: 80, address: null },
    ]);

    // the stopped container's address is given back; the running one keeps its own
    expect(await networks.releaseIdle('node-k')).toEqual([stopped.row.id]);
    expect(await networks.releaseIdle('node-k')).toEqual([]);
    expect((await networks.forNode('node-k')).leases.map((l) => l.name)).toEqual(['k-run']);
    expect(await networks.forNode('no-such-node')).toEqual({ subnet: undefined, leases: [], ports: [] });
  });
});
