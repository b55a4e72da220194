import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idler, type NetworkFleet, startNetworkFleet } from './support/network-fleet';
import { eventually } from './support/test-server';

// 200 networked launches at once, each publishing a port, then all deleted: while they start and
// run, samples of the kernel (the addresses inside each running container's network namespace)
// and of Postgres (its lease) never show two running containers with one address, nor a running
// container whose address is not its lease; afterwards no veth, lease, host port or table element
// is left.

const LAUNCHES = 200;
const HOST_PORT_BASE = 20_000 + randomInt(40_000 - LAUNCHES);
let net: NetworkFleet;

/** The IPv4 addresses of the network namespace of process pid, loopback aside (its LOCAL /32 routes). */
function addressesOf(pid: number): string[] {
  const found = new Set<string>();
  let last = '';
  for (const line of readFileSync(`/proc/${pid}/net/fib_trie`, 'utf8').split('\n')) {
    const leaf = /\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line);
    if (leaf) last = leaf[1]!;
    else if (line.includes('/32 host LOCAL') && !last.startsWith('127.')) found.add(last);
  }
  return [...found];
}

interface Sample {
  running: number;
  problems: string[];
}

/** One look at every running container: its row and lease in Postgres, its addresses in the kernel. */
async function sample(): Promise<Sample> {
  const { rows } = await net.fleet.db.pool.query<{ name: string; pid: number; address: string | null }>(
    `SELECT c.name, c.pid, host(l.address) AS address FROM container c LEFT JOIN ip_lease l ON l.container_id = c.id
      WHERE c.state = 'running' AND c.pid IS NOT NULL`,
  );
  const problems: string[] = [];
  const holder = new Map<string, string>();
  for (const row of rows) {
    let addresses: string[];
    try {
      addresses = addressesOf(row.pid);
    } catch {
      continue; // gone between the query and the read
    }
    if (addresses.length !== 1 || addresses[0] !== row.address)
      problems.push(`${row.name}: kernel ${addresses.join(',') || 'none'}, lease ${row.address}`);
    for (const a of addresses) {
      const other = holder.get(a);
      if (other) problems.push(`${a} in both ${other} and ${row.name}`);
      holder.set(a, row.name);
    }
  }
  return { running: rows.length, problems };
}

beforeAll(async () => {
  net = await startNetworkFleet({ slices: LAUNCHES + 16 });
}, 60_000);

afterAll(async () => {
  await net?.stop();
});

describe(`${LAUNCHES} networked launches at once`, () => {
  it('never shows two running containers with one address, and leaves nothing behind once deleted', async () => {
    const names = Array.from({ length: LAUNCHES }, (_, i) => `s${i}`);
    const started = Date.now();
    const creates = Promise.all(
      names.map((name, i) =>
        net.fleet.admin.post(
          '/containers',
          idler(name, { network: { mode: 'bridge', publish: [{ hostPort: HOST_PORT_BASE + i, containerPort: 80, protocol: 'tcp' }] } }),
        ),
      ),
    );
    // sample until all run (bounded: 90 s, 2000 samples)
    const problems: string[] = [];
    let samples = 0;
    let last: Sample = { running: 0, problems: [] };
    while (last.running < LAUNCHES && samples < 2000 && Date.now() - started < 90_000) {
      last = await sample();
      samples++;
      problems.push(...last.problems);
      await new Promise((r) => setTimeout(r, 50));
    }
    await creates;
    const ranAt = Date.now();
    expect(problems.slice(0, 10)).toEqual([]);
    expect(last.running).toBe(LAUNCHES);
    expect(net.ports()).toHaveLength(LAUNCHES);
    expect(net.elements('inet', 'map', 'dnat_any')).toHaveLength(LAUNCHES);

    await Promise.all(names.map((name) => net.fleet.admin.delete(`/containers/${name}?force=1`)));
    await eventually(
      async () => ((await net.count('SELECT count(*) AS n FROM container')) === 0 ? true : undefined),
      90_000,
      'all deleted',
    );
    await eventually(async () => (net.ports().length === 0 ? true : undefined), 10_000, 'no veth left');
    expect(await net.count('SELECT count(*) AS n FROM ip_lease')).toBe(0);
    expect(await net.count('SELECT count(*) AS n FROM host_port')).toBe(0);
    expect(net.elements('bridge', 'set', 'ports')).toHaveLength(0);
    expect(net.elements('bridge', 'set', 'guard')).toHaveLength(0);
    expect(net.elements('inet', 'map', 'ip_project')).toHaveLength(0);
    expect(net.elements('inet', 'map', 'dnat_any')).toHaveLength(0);
    console.log(
      `[network-scale] ${LAUNCHES} launches running in ${((ranAt - started) / 1000).toFixed(1)} s (${samples} samples), ` +
        `deleted in ${((Date.now() - ranAt) / 1000).toFixed(1)} s`,
    );
  }, 240_000);
});
