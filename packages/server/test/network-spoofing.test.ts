import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFrameTool, installFrameTool, udpFrame } from './support/forged-frames';
import { LinkedNetns } from './support/linked-netns';
import { idler, type NetworkFleet, startNetworkFleet } from './support/network-fleet';
import { eventually } from './support/test-server';

// Anti-spoofing: a container sends only from its own address and MAC. It cannot change them
// (no CAP_NET_ADMIN), but it has CAP_NET_RAW, as under Docker, so it can write whole frames with
// any source: frames with another address, or another MAC, reach nothing (not the node at its
// gateway address, not a peer container of the same project, not a server beyond the node), while
// the same frames with its own address and MAC reach all three, so the wall is what stops them.
// Traffic stays on this machine: the bridge and a netns of the test's own (the uplink).

const PORT = 9000;
let net: NetworkFleet;
let uplink: LinkedNetns | undefined;
let gatewaySocket: Socket | undefined;
/** "<from> <payload>" for every datagram that arrived at the gateway, and at the uplink. */
const gatewayHeard: string[] = [];
let uplinkHeard: string[] = [];

beforeAll(async () => {
  const frameTool = buildFrameTool();
  net = await startNetworkFleet();
  uplink = LinkedNetns.create('s');
  uplink.forward(net.bridge);
  uplinkHeard = await uplink.startPeerServer(PORT);
  gatewaySocket = createSocket('udp4');
  gatewaySocket.on('message', (m, r) => gatewayHeard.push(`${r.address} ${m.toString()}`));
  await new Promise<void>((resolve) => gatewaySocket!.bind(PORT, net.gateway, resolve));
  for (const name of ['attacker', 'peer']) {
    await net.fleet.admin.post('/containers', idler(name));
    await net.running(name);
    const installed = await net.sh(name, installFrameTool(frameTool));
    expect(installed.exitCode, installed.stderr).toBe(0);
  }
}, 60_000);

afterAll(async () => {
  gatewaySocket?.close();
  uplink?.remove();
  await net?.stop();
});

describe('a container that forges its source', () => {
  it('cannot give eth0 another address or MAC', async () => {
    const attacker = await net.running('attacker');
    const res = await net.sh(
      'attacker',
      'ip addr add 10.99.99.99/24 dev eth0; echo "addr=$?"; ip link set eth0 address 02:00:00:00:00:99; echo "mac=$?"; ip -4 -o addr show eth0; cat /sys/class/net/eth0/address',
    );
    expect(res.stdout).toMatch(/addr=[1-9]/);
    expect(res.stdout).toMatch(/mac=[1-9]/);
    expect(res.stdout).toContain(`inet ${attacker.network.ip}/`);
    expect(res.stdout).not.toContain('10.99.99.99');
    expect(res.stdout).toContain(attacker.network.mac);
  });

  it('reaches nothing with another address or MAC, and everything with its own', async () => {
    const attacker = await net.running('attacker');
    const peer = await net.running('peer');
    const own = { ip: attacker.network.ip!, mac: attacker.network.mac! };
    const bridgeMac = readFileSync(`/sys/class/net/${net.bridge}/address`, 'utf8').trim();
    const unused = `${net.cidr.split('.').slice(0, 3).join('.')}.250`;
    const sources = [
      { kind: 'forged-ip', ip: unused, mac: own.mac },
      { kind: 'peer-ip', ip: peer.network.ip!, mac: own.mac },
      { kind: 'forged-mac', ip: own.ip, mac: '02:00:de:ad:be:ef' },
      { kind: 'both', ip: unused, mac: '02:00:de:ad:be:ef' },
      // last, so a wall that let the others through could not hide behind its ordering
      { kind: 'genuine', ip: own.ip, mac: own.mac },
    ];
    const targets = [
      { where: 'gateway', ip: net.gateway, mac: bridgeMac },
      { where: 'peer', ip: peer.network.ip!, mac: peer.network.mac! },
      { where: 'uplink', ip: uplink!.address, mac: bridgeMac },
    ];
    // the peer listens for 10 s of silence at most, in the background, into a file
    await net.sh('peer', `/tmp/frame-tool listen ${PORT} 10 > /tmp/heard 2>&1 &`);
    await eventually(async () => ((await net.sh('peer', 'cat /tmp/heard')).stdout.includes('listening') ? true : undefined), 5_000);

    const ifindex = (await net.sh('attacker', 'cat /sys/class/net/eth0/ifindex')).stdout.trim();
    const sends = sources.flatMap((s) =>
      targets.map((t) => {
        const frame = udpFrame({ dstMac: t.mac, srcMac: s.mac, srcIp: s.ip, dstIp: t.ip, port: PORT, payload: `${s.kind}-to-${t.where}` });
        return `/tmp/frame-tool send ${ifindex} ${frame} || echo "failed $?"`;
      }),
    );
    const sent = await net.sh('attacker', sends.join('; '));
    expect(sent.stdout).not.toContain('failed');

    const heardByPeer = async () =>
      (await net.sh('peer', 'cat /tmp/heard')).stdout
        .split('\n')
        .filter((l) => l.startsWith('udp '))
        .map((l) => `peer ${l.slice(4)}`);
    const all = await eventually(
      async () => {
        const lines = [...gatewayHeard.map((l) => `gateway ${l}`), ...uplinkHeard.map((l) => `uplink ${l}`), ...(await heardByPeer())];
        return targets.every((t) => lines.some((l) => l.endsWith(`genuine-to-${t.where}`))) ? lines : undefined;
      },
      10_000,
      'the genuine datagrams at the gateway, the peer and the uplink',
    );
    // the genuine ones came from the attacker (beyond the node: masqueraded to the node's address)
    expect(all.sort()).toEqual(
      [`gateway ${own.ip} genuine-to-gateway`, `peer ${own.ip} genuine-to-peer`, `uplink ${uplink!.hostAddress} genuine-to-uplink`].sort(),
    );
  }, 60_000);
});
