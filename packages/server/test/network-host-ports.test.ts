import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/test-server';
import { httpServer, idler, type NetworkFleet, startNetworkFleet, tcpSay } from './support/network-fleet';

// The node's own ports as its containers and the host see them: a published port answers at
// 127.0.0.1 and at the node's bridge-side address (the containers' gateway), from the host and
// from a container; the API's port (picked by the kernel here, PORT=0), Postgres's and Redis's
// are walled off from containers on the bridge address, while a port nagaya does not deny is not.
// Traffic stays on this machine: the bridge and loopback, each attempt bounded by nc -w / curl -m.

const run = promisify(execFile);
const HOST_PORT = 40_000 + randomInt(20_000);
let net: NetworkFleet;
const listeners: Server[] = [];

/** Listens on address:port and greets each connection; false when something else has the port on every address. */
async function greeter(address: string, port: number, greeting: string): Promise<boolean> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.end(`${greeting}\n`);
  });
  const bound = await new Promise<boolean>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
    server.listen(port, address, () => resolve(true));
  });
  if (bound) listeners.push(server);
  return bound;
}

/** curl from the host (not blocking this process: the API runs in it): the body, or '' when nothing answered within 3 s. */
async function curl(url: string): Promise<string> {
  try {
    return (await run('curl', ['-s', '-m', '3', url], { encoding: 'utf8' })).stdout.trim();
  } catch {
    return '';
  }
}

beforeAll(async () => {
  // the API on every address, so the wall (not a loopback-only bind) is what keeps containers out
  net = await startNetworkFleet({ env: { NAGAYA_LISTEN: '0.0.0.0' } });
  await net.fleet.admin.post(
    '/containers',
    httpServer('web', { network: { mode: 'bridge', publish: [{ hostPort: HOST_PORT, containerPort: 8000, protocol: 'tcp' }] } }),
  );
  await net.fleet.admin.post('/containers', idler('probe'));
  await net.running('web');
  await net.running('probe');
  // a hairpin (a container to a published port on the node's address) is routed back onto the
  // bridge: as on a node with ip_forward on, which the tests leave alone (this bridge is the test's own)
  writeFileSync(`/proc/sys/net/ipv4/conf/${net.bridge}/forwarding`, '1');
}, 60_000);

afterAll(async () => {
  for (const server of listeners) server.close();
  await net?.stop();
});

describe("the node's ports, seen from the host and from containers", () => {
  it('answers a published port at 127.0.0.1:hostPort and at the bridge-side address, from the host', async () => {
    const body = await eventually(
      async () => (await curl(`http://127.0.0.1:${HOST_PORT}/`)) || undefined,
      10_000,
      'the published port at 127.0.0.1',
      200,
    );
    expect(body).toBe('hello-web');
    expect(await curl(`http://${net.gateway}:${HOST_PORT}/`)).toBe('hello-web');
  });

  it('answers a published port at the bridge-side address from a container too (hairpin)', async () => {
    const res = await net.sh('probe', `${tcpSay(net.gateway, HOST_PORT, 'GET / HTTP/1.0\\r\\n\\r\\n')} | tail -n 1`);
    expect(res.stdout.trim()).toBe('hello-web');
  });

  it("keeps containers off the API's port, Postgres's and Redis's on the bridge address; another port is open", async () => {
    const apiPort = Number(new URL(net.fleet.url).port);
    expect(apiPort).toBeGreaterThan(0);
    // the API answers on the bridge address from the host: only the wall keeps a container out
    expect(await curl(`http://${net.gateway}:${apiPort}/healthz`)).toContain('ok');
    // Postgres and Redis listen on loopback here: a greeter of ours on the bridge address stands in
    // for a service that listens everywhere (if one already does, it answers in its place)
    for (const port of [5432, 6379]) await greeter(net.gateway, port, `open-${port}`);
    const open = 40_000 + randomInt(20_000);
    expect(await greeter(net.gateway, open, `open-${open}`)).toBe(true);

    const reach = async (port: number, say = '') => (await net.sh('probe', `${tcpSay(net.gateway, port, say)}; echo "rc=$?"`)).stdout;
    // the control: an undenied port on the same address answers the same container
    expect(await reach(open)).toContain(`open-${open}`);
    const api = await reach(apiPort, 'GET /api/v1/healthz HTTP/1.0\\r\\n\\r\\n');
    expect(api).not.toContain('HTTP/1.1');
    expect(api).toMatch(/rc=[1-9]/);
    for (const port of [5432, 6379]) {
      const out = await reach(port, 'PING\\r\\n');
      expect(out).not.toContain('open-');
      expect(out).not.toContain('PONG');
      expect(out).not.toContain('NOAUTH');
      expect(out).toMatch(/rc=[1-9]/);
    }
    // and the published port still answers the container through the same address
    expect((await reach(HOST_PORT, 'GET / HTTP/1.0\\r\\n\\r\\n')).split('\n')).toContain('hello-web');
  }, 60_000);
});
