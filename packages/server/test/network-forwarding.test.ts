import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkedNetns } from './support/linked-netns';
import { httpServer, idler, type NetworkFleet, startNetworkFleet, tcpSay } from './support/network-fleet';
import { eventually } from './support/test-server';

// Traffic the node routes between its bridge and the rest of the world, with two network
// namespaces of the test's own standing in for the world (each on a /30 link to the host, no other
// route, so nothing leaves the machine): another host reaches a published port at the node's
// address on its link, and a container reaches a server "on the internet" (the uplink namespace),
// which sees the node's address (masquerade), never the container's. Forwarding is switched on
// for this test's bridge and links only (the global ip_forward is left alone), and put back.

const HOST_PORT = 40_000 + randomInt(20_000);
const UPLINK_PORT = 8080;
let net: NetworkFleet;
let otherHost: LinkedNetns | undefined;
let uplink: LinkedNetns | undefined;

beforeAll(async () => {
  net = await startNetworkFleet();
  otherHost = LinkedNetns.create('h');
  uplink = LinkedNetns.create('u');
  otherHost.forward(net.bridge);
  uplink.forward(net.bridge);
  await uplink.startPeerServer(UPLINK_PORT);
  await net.fleet.admin.post(
    '/containers',
    httpServer('web', { network: { mode: 'bridge', publish: [{ hostPort: HOST_PORT, containerPort: 8000, protocol: 'tcp' }] } }),
  );
  await net.fleet.admin.post('/containers', idler('client'));
  await net.running('web');
  await net.running('client');
}, 60_000);

afterAll(async () => {
  otherHost?.remove();
  uplink?.remove();
  await net?.stop();
});

describe('traffic the node routes for its containers', () => {
  it("lets another host reach a published port at the node's address on its link", async () => {
    const page = await eventually(
      async () => {
        const out = await otherHost!.runAsync(['curl', '-s', '-m', '3', `http://${otherHost!.hostAddress}:${HOST_PORT}/`]);
        return out.trim() || undefined;
      },
      10_000,
      'the published port from the other host',
      200,
    );
    expect(page).toBe('hello-web');
    // only what is published: the container's own port is not reachable through the node's address
    expect((await otherHost!.runAsync(['curl', '-s', '-m', '2', `http://${otherHost!.hostAddress}:8000/`])).trim()).toBe('');
  });

  it("masquerades a container's connection out of the node: the uplink sees the node's address", async () => {
    const client = await net.running('client');
    const res = await net.sh('client', tcpSay(uplink!.address, UPLINK_PORT, 'hello\\n', 3));
    expect(res.stdout.trim()).toBe(`from ${uplink!.hostAddress}`);
    expect(res.stdout).not.toContain(client.network.ip);
  });
});
