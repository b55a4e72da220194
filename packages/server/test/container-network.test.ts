import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import type { ContainerView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpServer, startNetworkFleet, type NetworkFleet } from './support/network-fleet';
import { eventually, waitRunning, type TestFleet } from './support/test-server';

// Container networking end to end through the REST API, on a real bridge, veths and nftables:
// the worker sets up its own bridge and tables (named for this run, so nothing else on the host is
// touched), leases addresses, adds rules before each launch and takes them away at the end.
// Traffic stays on this machine: the bridge and 127.0.0.1, with short timeouts.

const HOST_PORT = 40_000 + randomInt(20_000);
/** Names this run's stray veth of the reconciler test. */
const tag = randomBytes(3).toString('hex');

let net: NetworkFleet;
let fleet: TestFleet;
let BRIDGE: string;
let TABLE: string;
let VETH: string;
let CIDR: string;

/** A busybox container serving hello-<name> on port 8000 (httpd in the background, TERM ends it). */
const server = httpServer;
const exec = (name: string, command: string[], project = 'default') => net.exec(name, command, project);
const count = (sql: string) => net.count(sql);
const elements = (family: 'bridge' | 'inet', kind: 'set' | 'map', name: string) => net.elements(family, kind, name);
const ours = () => net.ports();
const runningIn = (name: string, project = 'default'): Promise<ContainerView> => net.running(name, project);

beforeAll(async () => {
  net = await startNetworkFleet({ slices: 96 });
  ({ fleet, bridge: BRIDGE, table: TABLE, vethPrefix: VETH, cidr: CIDR } = net);
  await fleet.admin.post('/projects', { name: 'other' });
}, 60_000);

afterAll(async () => {
  await net?.stop();
});

describe('container networks on a real bridge', () => {
  it('sets up the bridge and the tables at worker start', async () => {
    expect(fleet.api.worker?.network?.subnet.cidr).toBe(CIDR);
    const gateway = fleet.api.worker!.network!.subnet.gateway;
    expect(execFileSync('ip', ['-o', '-4', 'addr', 'show', 'dev', BRIDGE], { encoding: 'utf8' })).toContain(`${gateway}/24`);
    const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
    expect(tables).toContain(`bridge ${TABLE}`);
    expect(tables).toContain(`inet ${TABLE}`);
    // containers may not reach Postgres or Redis on any of the node's addresses
    const denied = JSON.stringify(elements('inet', 'set', 'denied'));
    expect(denied).toContain('5432');
    expect(denied).toContain('6379');
  });

  it('lets two containers of a project reach each other by address and name, and no one of another project', async () => {
    await fleet.admin.post('/containers', server('a'));
    const a = await waitRunning<ContainerView>(fleet, 'a');
    await fleet.admin.post('/containers', server('b'));
    const b = await waitRunning<ContainerView>(fleet, 'b');
    await fleet.admin.post('/containers?project=other', server('c'));
    const c = await runningIn('c', 'other');
    for (const x of [a, b, c]) expect(x.network).toMatchObject({ mode: 'bridge', bridge: BRIDGE, gateway: expect.any(String) });
    const ips = [a, b, c].map((x) => x.network.ip);
    expect(new Set(ips).size).toBe(3);
    expect(ours()).toHaveLength(3);
    expect(await count('SELECT count(*) AS n FROM ip_lease')).toBe(3);

    // wait for the httpd of each to listen (it daemonises at once, but give it a moment)
    // busybox-static's wget crashes in its resolver here; nc speaks the HTTP
    const fetchIn = (from: string, url: string, project = 'default') => {
      const { hostname, port } = new URL(url);
      return exec(from, ['/bin/sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${hostname} ${port} | tail -n 1`], project);
    };
    await eventually(async () => ((await fetchIn('a', `http://${b.network.ip}:8000/`)).exitCode === 0 ? true : undefined), 10_000);
    expect((await fetchIn('a', `http://${b.network.ip}:8000/`)).stdout.trim()).toBe('hello-b');
    // b was launched after a and resolves it by name through the node's name server (container-names.test.ts has more)
    expect((await fetchIn('b', 'http://a:8000/')).stdout.trim()).toBe('hello-a');
    // the wall: c (project other) reaches neither, and neither reaches c
    const cToB = await fetchIn('c', `http://${b.network.ip}:8000/`, 'other');
    expect(cToB.stdout).not.toContain('hello');
    const aToC = await fetchIn('a', `http://${c.network.ip}:8000/`);
    expect(aToC.stdout).not.toContain('hello');
    // ICMP too: a pings b by address; c, of another project, cannot
    expect((await exec('a', ['ping', '-c', '1', '-W', '2', b.network.ip!])).exitCode).toBe(0);
    expect((await exec('c', ['ping', '-c', '1', '-W', '2', b.network.ip!], 'other')).exitCode).not.toBe(0);
    // but c's own server works (the wall is not a broken network)
    expect((await fetchIn('c', `http://${c.network.ip}:8000/`, 'other')).stdout.trim()).toBe('hello-c');
  }, 90_000);

  it('answers a published port at 127.0.0.1:hostPort on the host', async () => {
    await fleet.admin.post(
      '/containers',
      server('web', { network: { mode: 'bridge', publish: [{ hostPort: HOST_PORT, containerPort: 8000, protocol: 'tcp' }] } }),
    );
    await waitRunning<ContainerView>(fleet, 'web');
    const body = await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${HOST_PORT}/`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
        return res?.ok ? (await res.text()).trim() : undefined;
      },
      10_000,
      'the published port',
    );
    expect(body).toBe('hello-web');
    expect(elements('inet', 'map', 'dnat_any')).toHaveLength(1);
  }, 60_000);

  it('frees the address and the rules of a stopped container, and gives them back at start', async () => {
    await fleet.admin.post('/containers/b/stop', { timeoutSeconds: 5 });
    await eventually(async () => ((await fleet.admin.get<ContainerView>('/containers/b')).state === 'stopped' ? true : undefined), 20_000);
    // the stop job frees them before it records stopped; the exit event may record it first
    await eventually(
      async () =>
        (await count(`SELECT count(*) AS n FROM ip_lease l JOIN container c ON c.id = l.container_id WHERE c.name = 'b'`)) === 0
          ? true
          : undefined,
      5_000,
      'the lease of b released',
    );
    expect(elements('bridge', 'set', 'ports')).toHaveLength(3);
    await eventually(async () => (ours().length === 3 ? true : undefined), 5_000, 'b veth gone');
    await fleet.admin.post('/containers/b/start', {});
    const b = await waitRunning<ContainerView>(fleet, 'b');
    expect(b.network.ip).not.toBeNull();
    expect(elements('bridge', 'set', 'ports')).toHaveLength(4);
  }, 60_000);

  it('frees the address and the rules of a container that exits on its own', async () => {
    await fleet.admin.post('/containers', {
      name: 'brief',
      image: 'busybox',
      command: ['/bin/sh', '-c', 'sleep 1'],
      network: { mode: 'bridge' },
    });
    const running = await waitRunning<ContainerView>(fleet, 'brief');
    expect(running.network.ip).not.toBeNull();
    expect(elements('bridge', 'set', 'ports')).toHaveLength(5);
    await eventually(
      async () => ((await fleet.admin.get<ContainerView>('/containers/brief')).state === 'stopped' ? true : undefined),
      20_000,
    );
    await eventually(
      async () =>
        (await count(`SELECT count(*) AS n FROM ip_lease l JOIN container c ON c.id = l.container_id WHERE c.name = 'brief'`)) === 0
          ? true
          : undefined,
      5_000,
      'the lease of brief released',
    );
    expect(elements('bridge', 'set', 'ports')).toHaveLength(4);
    expect((await fleet.admin.get<ContainerView>('/containers/brief')).network.ip).toBeNull();
    await fleet.admin.delete('/containers/brief?force=1');
  }, 60_000);

  it('brings an `always` container back with the same address, reachable again, after its init is killed', async () => {
    await fleet.admin.post('/containers', server('phoenix', { restartPolicy: { name: 'always' } }));
    const first = await runningIn('phoenix');
    expect(first.network.ip).not.toBeNull();
    const ports = elements('bridge', 'set', 'ports').length;
    process.kill(first.pid!, 'SIGKILL');
    const again = await eventually(
      async () => {
        const c = await fleet.admin.get<ContainerView>('/containers/phoenix');
        return c.state === 'running' && c.pid !== first.pid ? c : undefined;
      },
      10_000,
      'phoenix running again',
    );
    expect(again.restartCount).toBe(1);
    expect(again.network.ip).toBe(first.network.ip);
    expect(again.idmap.uid).toEqual(first.idmap.uid);
    // its rules are back for its new veth, once each, and its page is served again
    expect(elements('bridge', 'set', 'ports')).toHaveLength(ports);
    await eventually(
      async () =>
        execFileSync('curl', ['-s', '-m', '2', `http://${again.network.ip}:8000/`], { encoding: 'utf8' }).includes('hello-phoenix')
          ? true
          : undefined,
      10_000,
      'phoenix serving again',
    ).catch(async () => {
      throw new Error(`phoenix does not serve: ${JSON.stringify(await fleet.admin.get('/containers/phoenix'))}`);
    });
    await fleet.admin.delete('/containers/phoenix?force=1');
  }, 60_000);

  it('has the reconciler remove a stray veth, give back a stale lease and put back rules that went missing', async () => {
    const stray = `${VETH}${tag}stray`.slice(0, 15);
    execFileSync('ip', ['link', 'add', stray, 'type', 'veth', 'peer', 'name', `ngp${tag}`]);
    execFileSync('ip', ['link', 'set', stray, 'master', BRIDGE]);
    expect(ours()).toContain(stray);
    // a lease held by a stopped container (as a crash between exit and release would leave)
    await fleet.admin.post('/containers', { name: 'idle', image: 'busybox', command: ['true'], network: { mode: 'none' } });
    await eventually(
      async () => ((await fleet.admin.get<ContainerView>('/containers/idle')).state === 'stopped' ? true : undefined),
      20_000,
    );
    await fleet.db.pool.query(`UPDATE container SET network = '{"mode":"bridge"}' WHERE name = 'idle'`);
    await fleet.db.pool.query(`SELECT * FROM nagaya_ip_lease((SELECT id FROM container WHERE name = 'idle'), $1)`, [fleet.base.nodeName]);
    expect(await count('SELECT count(*) AS n FROM ip_lease')).toBe(5);
    // a running container's port taken out of the bridge table behind nagaya's back
    const a = fleet.api.worker!.network!.hostIfName((await fleet.admin.get<ContainerView>('/containers/a')).id);
    execFileSync('nft', ['delete', 'element', 'bridge', TABLE, 'ports', `{ "${a}" }`]);
    expect(elements('bridge', 'set', 'ports')).not.toContain(a);

    await eventually(
      async () => {
        const ports = elements('bridge', 'set', 'ports');
        const leases = await count('SELECT count(*) AS n FROM ip_lease');
        return !ours().includes(stray) && ports.includes(a) && leases === 4 ? true : undefined;
      },
      10_000,
      'the reconciler to repair',
    );
    expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).not.toContain(`ngp${tag}`);
    await fleet.admin.delete('/containers/idle?force=1');

    // both tables gone (an admin's flush): rebuilt from Postgres, with every running container
    execFileSync('nft', ['delete', 'table', 'bridge', TABLE]);
    execFileSync('nft', ['delete', 'table', 'inet', TABLE]);
    await eventually(
      async () => {
        try {
          return elements('bridge', 'set', 'ports').length === 4 && elements('inet', 'map', 'dnat_any').length === 1 ? true : undefined;
        } catch {
          return undefined; // not there yet
        }
      },
      10_000,
      'the tables rebuilt',
    );
  }, 60_000);

  it('runs 50 networked launches at once with 50 different addresses, then deletes them all', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `n${i}`);
    await Promise.all(names.map((name) => fleet.admin.post('/containers', server(name))));
    const views = await Promise.all(names.map((name) => waitRunning<ContainerView>(fleet, name)));
    expect(new Set(views.map((v) => v.network.ip)).size).toBe(50);
    expect(ours()).toHaveLength(54);
    expect(elements('bridge', 'set', 'ports')).toHaveLength(54);
    await Promise.all(names.map((name) => fleet.admin.delete(`/containers/${name}?force=1`)));
    await eventually(
      async () => ((await count(`SELECT count(*) AS n FROM container WHERE name ~ '^n[0-9]+$'`)) === 0 ? true : undefined),
      60_000,
      'the 50 deleted',
    );
    expect(await count('SELECT count(*) AS n FROM ip_lease')).toBe(4);
    expect(elements('bridge', 'set', 'ports')).toHaveLength(4);
    await eventually(async () => (ours().length === 4 ? true : undefined), 5_000, 'their veths gone');
  }, 120_000);

  it('leaves no veth, address or rule behind once every container is deleted', async () => {
    for (const [name, project] of [
      ['a', 'default'],
      ['b', 'default'],
      ['web', 'default'],
      ['c', 'other'],
    ]) {
      await fleet.admin.delete(`/containers/${name}?project=${project}&force=1`);
    }
    await eventually(async () => ((await count('SELECT count(*) AS n FROM container')) === 0 ? true : undefined), 40_000, 'all deleted');
    expect(await count('SELECT count(*) AS n FROM ip_lease')).toBe(0);
    expect(await count('SELECT count(*) AS n FROM host_port')).toBe(0);
    await eventually(async () => (ours().length === 0 ? true : undefined), 5_000, 'no veth left');
    expect(elements('bridge', 'set', 'ports')).toHaveLength(0);
    expect(elements('inet', 'map', 'ip_project')).toHaveLength(0);
    expect(elements('inet', 'map', 'dnat_any')).toHaveLength(0);
    const refused = await fetch(`http://127.0.0.1:${HOST_PORT}/`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(refused).toBe('refused');
  }, 90_000);
});
