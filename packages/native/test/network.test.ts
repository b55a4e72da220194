import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  addToRuleset,
  applyRuleset,
  bridgePorts,
  buildRuleset,
  buildRulesetRemoval,
  ensureBridge,
  hostIfNameFor,
  macFromIp,
  projectMark,
  removeBridge,
  removeFromRuleset,
  removeRuleset,
  removeStrayPorts,
  type ContainerRuntime,
  type NetworkRuleset,
  type RulesetContainer,
} from '@nagaya/native';

import { busyboxPlan, launcherPidOf, openTestRuntime, sleep, slice } from './helpers';

// Host ids for this file: 2_100_000_000 + n * 65536, apart from every other test file's.
const BASE = 2_100_000_000;

// Everything here stays on this machine: a bridge of the test's own, an unused 10.x/24 subnet,
// nftables tables of the test's own name, containers on the bridge and the host itself. Every
// ping, wget and curl is bounded in count and time.
const tag = randomBytes(3).toString('hex');
const BRIDGE = `ngt${tag}`;
const TABLE = `ngt${tag}`;
// Our own veth prefix too: a table guards the ports of its prefix only, so another nagaya on this
// host (a test fleet running at the same time) neither drops our traffic nor has it dropped.
const PORT_PREFIX = `t${tag.slice(0, 3)}`;
const PORT_NAME = new RegExp(`^${PORT_PREFIX}[0-9a-f]{10}$`);
const NET = `10.${200 + (randomBytes(1)[0] % 50)}.${randomBytes(1)[0]}`;
const GATEWAY = `${NET}.1`;
const HOST_PORT = 20000 + (randomBytes(2).readUInt16BE() % 20000);
const DENIED_PORT = HOST_PORT + 1;
const OPEN_PORT = HOST_PORT + 2;

const ip = (n: number) => `${NET}.${n}`;

describe('container networking: bridge, veth, nftables', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;
  const servers: Server[] = [];
  const entries: RulesetContainer[] = [];
  let slot = 0;

  const ruleset = (): NetworkRuleset => ({
    table: TABLE,
    bridge: BRIDGE,
    subnet: `${NET}.0/24`,
    portPrefix: PORT_PREFIX,
    containers: entries,
    deniedHostPorts: [{ port: DENIED_PORT }],
  });

  /** Launches a busybox container on the bridge; with a project, it gets its rules first. */
  async function launchOnBridge(id: string, n: number, argv: string[], project?: string, publish?: RulesetContainer['publish']) {
    const hostIfName = hostIfNameFor(stateDir, id, PORT_PREFIX);
    const plan = busyboxPlan(id, argv, slice(BASE, slot++), {
      network: { ip: ip(n), prefix: 24, gateway: GATEWAY, bridge: BRIDGE, hostIfName, hosts: [`${ip(2)} web`] },
    });
    if (project) {
      const entry = { hostIfName, ip: ip(n), mac: macFromIp(ip(n)), project, publish };
      entries.push(entry);
      await addToRuleset(ruleset(), entry); // as the worker does before each launch
    }
    return runtime.launch(plan);
  }

  async function sh(id: string, script: string) {
    return runtime.exec(id, ['sh', '-c', script], { timeoutMs: 10_000 });
  }

  const ping = (id: string, target: string) => sh(id, `ping -c 1 -W 1 ${target} >/dev/null 2>&1; echo $?`).then((r) => r.stdout.trim());
  /** A ping that may take three tries: the first after a ruleset change can meet a stale neighbour entry on a loaded machine. */
  const pingSoon = (id: string, target: string) =>
    sh(id, `for i in 1 2 3; do ping -c 1 -W 1 ${target} >/dev/null 2>&1 && { echo 0; exit 0; }; done; echo 1`).then((r) => r.stdout.trim());

  function curl(url: string): string {
    try {
      return execFileSync('curl', ['-s', '--noproxy', '*', '--max-time', '3', url], { encoding: 'utf8' });
    } catch {
      return '';
    }
  }

  beforeAll(async () => {
    await ensureBridge({ name: BRIDGE, gatewayCidr: `${GATEWAY}/24`, ipForward: false });
    await applyRuleset(ruleset());
    ({ runtime, stateDir, cleanup } = await openTestRuntime('network'));
    for (const port of [DENIED_PORT, OPEN_PORT]) {
      const server = createServer((s) => s.end(`port-${port}\n`));
      await new Promise<void>((resolve) => server.listen(port, GATEWAY, resolve));
      servers.push(server);
    }
  });

  afterAll(async () => {
    for (const s of servers) s.close();
    await cleanup?.();
    await removeRuleset(TABLE).catch(() => undefined);
    await removeBridge(BRIDGE).catch(() => undefined);
  });

  it('sets up the bridge idempotently', async () => {
    await ensureBridge({ name: BRIDGE, gatewayCidr: `${GATEWAY}/24`, ipForward: false });
    const addrs = execFileSync('ip', ['-o', '-4', 'addr', 'show', 'dev', BRIDGE], { encoding: 'utf8' }).trim().split('\n');
    expect(addrs).toHaveLength(1);
    expect(addrs[0]).toContain(`inet ${GATEWAY}/24`);
    expect(readFileSync(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, 'utf8').trim()).toBe('1');
    expect(Number(readFileSync(`/sys/class/net/${BRIDGE}/flags`, 'utf8')) & 1).toBe(1); // IFF_UP (no carrier before a port joins)
  });

  it('builds a ruleset that only names its own tables', () => {
    const text = buildRuleset({ ...ruleset(), containers: [{ hostIfName: 'nvx', ip: ip(9), mac: macFromIp(ip(9)), project: 'p' }] });
    const tables = [...text.matchAll(/^(?:delete )?table (\w+) (\w+)/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(new Set(tables)).toEqual(new Set([`bridge ${TABLE}`, `inet ${TABLE}`]));
    expect(text).not.toMatch(/flush ruleset/);
    expect(projectMark('42')).toBe(42); // a database id is its own mark: walls that cannot collide
    expect(projectMark('alpha')).not.toBe(projectMark('beta'));
    const removal = buildRulesetRemoval(ruleset(), { hostIfName: 'nvx', ip: ip(9), mac: macFromIp(ip(9)), project: 'p' });
    expect(removal.split('\n').filter((l) => l.startsWith('delete element')).length).toBe(7);
  });

  it('gives a container eth0 with its address, MAC, route, resolv.conf and hosts, in its writable layer', async () => {
    const launched = await launchOnBridge(
      'net-web',
      2,
      ['sh', '-c', 'mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 80 -h /www'],
      'alpha',
      [{ hostPort: HOST_PORT, containerPort: 80, protocol: 'tcp' }],
    );
    expect(launched.hostIfName).toMatch(PORT_NAME);
    expect(bridgePorts(BRIDGE)).toContain(launched.hostIfName);
    const r = await sh(
      'net-web',
      'ip -o -4 addr show dev eth0; cat /sys/class/net/eth0/address; ip route; cat /etc/resolv.conf /etc/hosts',
    );
    expect(r.stdout).toContain(`inet ${ip(2)}/24`);
    expect(r.stdout).toContain(macFromIp(ip(2)));
    expect(r.stdout).toContain(`default via ${GATEWAY} dev eth0`);
    expect(r.stdout).toContain(`nameserver ${GATEWAY}`);
    expect(r.stdout).toMatch(new RegExp(`^${ip(2).replace(/\./g, '\\.')}\\s+net-web$`, 'm'));
    const upper = join(stateDir, 'containers', 'net-web', 'upper', 'etc');
    expect(readFileSync(join(upper, 'resolv.conf'), 'utf8')).toBe(`nameserver ${GATEWAY}\n`);
    expect(existsSync(join(upper, 'hosts'))).toBe(true);
    expect(runtime.status('net-web').hostIfName).toBe(launched.hostIfName);
  });

  it('a container without a network still has only its loopback', async () => {
    await runtime.launch(busyboxPlan('net-none', ['sh', '-c', 'ls /sys/class/net'], slice(BASE, slot++)));
    await runtime.wait('net-none');
    expect(readFileSync(join(stateDir, 'containers', 'net-none', 'console.log'), 'utf8').trim()).toBe('lo');
  });

  it('containers of one project reach each other by IP; another project reaches neither', async () => {
    await launchOnBridge('net-a2', 3, ['sleep', '600'], 'alpha');
    await launchOnBridge('net-b1', 4, ['sleep', '600'], 'beta');
    expect(await ping('net-a2', ip(2))).toBe('0');
    expect(await ping('net-a2', GATEWAY)).toBe('0');
    expect(await ping('net-b1', GATEWAY)).toBe('0'); // it is on the network...
    expect(await ping('net-b1', ip(2))).not.toBe('0'); // ...but not with alpha
    expect(await ping('net-b1', ip(3))).not.toBe('0');
    // busybox's static wget crashes in its resolver here: a bare HTTP request through nc instead
    const get = (from: string) => sh(from, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${ip(2)} 80 2>&1; echo rc=$?`);
    expect((await get('net-a2')).stdout).toContain('hello-web');
    expect((await get('net-b1')).stdout).not.toContain('hello-web');
    // the wall is the project rule: moved into alpha, the same container gets through
    const b1 = entries.find((e) => e.ip === ip(4)) as RulesetContainer;
    b1.project = 'alpha';
    await applyRuleset(ruleset());
    expect(await pingSoon('net-b1', ip(2))).toBe('0');
    b1.project = 'beta';
    await applyRuleset(ruleset());
    expect(await ping('net-b1', ip(2))).not.toBe('0');
  });

  it('a published port answers the host at 127.0.0.1 and at the bridge address', async () => {
    let page = '';
    for (let i = 0; i < 30 && !page.includes('hello-web'); i++) {
      page = curl(`http://127.0.0.1:${HOST_PORT}/`);
      if (!page.includes('hello-web')) await sleep(100);
    }
    expect(page).toContain('hello-web');
    expect(curl(`http://${GATEWAY}:${HOST_PORT}/`)).toContain('hello-web');
    // published on one address only: answered there, not on loopback
    const web = entries.find((e) => e.ip === ip(2)) as RulesetContainer;
    const onGateway = { hostPort: HOST_PORT + 3, containerPort: 80, protocol: 'tcp' as const, hostIp: GATEWAY };
    web.publish = [...(web.publish ?? []), onGateway];
    await addToRuleset(ruleset(), { ...web, publish: [onGateway] });
    expect(curl(`http://${GATEWAY}:${HOST_PORT + 3}/`)).toContain('hello-web');
    expect(curl(`http://127.0.0.1:${HOST_PORT + 3}/`)).toBe('');
  });

  it('denied host ports are closed to containers, other host ports are not', async () => {
    const open = await sh('net-a2', `echo | nc -w 2 ${GATEWAY} ${OPEN_PORT} 2>&1`);
    expect(open.stdout).toContain(`port-${OPEN_PORT}`);
    const denied = await sh('net-a2', `echo | nc -w 2 ${GATEWAY} ${DENIED_PORT} 2>&1`);
    expect(denied.stdout).not.toContain(`port-${DENIED_PORT}`);
  });

  it('a container that takes another IP or MAC on eth0 reaches nothing', async () => {
    const spoofIp = await launchOnBridge('net-spoof-ip', 5, ['sleep', '600'], 'alpha');
    const spoofMac = await launchOnBridge('net-spoof-mac', 6, ['sleep', '600'], 'alpha');
    expect(await ping('net-spoof-ip', ip(2))).toBe('0');
    expect(await ping('net-spoof-mac', ip(2))).toBe('0');
    // Container root has no CAP_NET_ADMIN: the host changes eth0 for it, as a breakout would.
    const inNetns = (pid: number, ...args: string[]) => execFileSync('nsenter', ['-t', String(pid), '-n', 'ip', ...args]);
    inNetns(spoofIp.pid, 'addr', 'flush', 'dev', 'eth0');
    inNetns(spoofIp.pid, 'addr', 'add', `${ip(99)}/24`, 'dev', 'eth0');
    inNetns(spoofIp.pid, 'route', 'replace', 'default', 'via', GATEWAY);
    inNetns(spoofMac.pid, 'link', 'set', 'dev', 'eth0', 'address', macFromIp(ip(98)));
    for (const id of ['net-spoof-ip', 'net-spoof-mac']) {
      expect(await ping(id, ip(2))).not.toBe('0');
      expect(await ping(id, GATEWAY)).not.toBe('0');
    }
    // taking the web's own address does not capture its traffic either
    inNetns(spoofIp.pid, 'addr', 'flush', 'dev', 'eth0');
    inNetns(spoofIp.pid, 'addr', 'add', `${ip(2)}/24`, 'dev', 'eth0');
    expect(await ping('net-spoof-ip', GATEWAY)).not.toBe('0');
    expect(curl(`http://127.0.0.1:${HOST_PORT}/`)).toContain('hello-web');
  });

  it('outbound traffic is masqueraded: a server in a stand-in "internet" netns sees the host address', async () => {
    // The stand-in: a netns of the test's own behind a veth from the host, in 198.18.0.0/15
    // (benchmarking space): routed only between the host and that netns, never off this machine.
    const ns = `ngu${tag}`;
    const uplink = `198.18.${randomBytes(1)[0]}`;
    const forwardBefore = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    const run = (...args: string[]) => execFileSync('ip', args);
    run('netns', 'add', ns);
    let server: ReturnType<typeof spawn> | undefined;
    try {
      run('link', 'add', `${ns}h`, 'type', 'veth', 'peer', 'name', `${ns}p`);
      run('link', 'set', `${ns}p`, 'netns', ns);
      run('addr', 'add', `${uplink}.1/30`, 'dev', `${ns}h`);
      run('link', 'set', `${ns}h`, 'up');
      run('-n', ns, 'addr', 'add', `${uplink}.2/30`, 'dev', `${ns}p`);
      run('-n', ns, 'link', 'set', `${ns}p`, 'up');
      run('-n', ns, 'link', 'set', 'lo', 'up');
      writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
      const echoPeer = `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(9000, '${uplink}.2', () => console.log('up'))`;
      server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', echoPeer], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((resolve) => server?.stdout?.once('data', resolve));
      const r = await sh('net-a2', `nc -w 2 ${uplink}.2 9000 </dev/null; echo rc=$?`);
      expect(r.stdout).toContain(`${uplink}.1\n`); // the host's address on that link, not the container's
      expect(r.stdout).not.toContain(ip(3));
    } finally {
      server?.kill('SIGKILL');
      writeFileSync('/proc/sys/net/ipv4/ip_forward', forwardBefore);
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });

  it('a port the ruleset does not describe sends nothing, nor one taken out of it', async () => {
    await launchOnBridge('net-unlisted', 7, ['sleep', '600']);
    expect(await ping('net-unlisted', GATEWAY)).not.toBe('0');
    const a2 = entries.find((e) => e.ip === ip(3)) as RulesetContainer;
    expect(await ping('net-a2', GATEWAY)).toBe('0');
    await removeFromRuleset(ruleset(), a2);
    await removeFromRuleset(ruleset(), a2); // again: no error
    expect(await ping('net-a2', GATEWAY)).not.toBe('0');
    await addToRuleset(ruleset(), a2);
    expect(await ping('net-a2', GATEWAY)).toBe('0');
  });

  it('a failed launch leaves no veth behind', async () => {
    await expect(launchOnBridge('net-fail', 8, ['/no/such/binary'], 'alpha')).rejects.toMatchObject({ code: 'ENOENT' });
    const name = hostIfNameFor(stateDir, 'net-fail', PORT_PREFIX);
    expect(existsSync(`/sys/class/net/${name}`)).toBe(false);
  });

  it('the same id launched again at once after it exited gets its veth name back', async () => {
    const map = slice(BASE, slot++); // the same slice every time: the writable layer is kept
    const network = {
      ip: ip(9),
      prefix: 24,
      gateway: GATEWAY,
      bridge: BRIDGE,
      hostIfName: hostIfNameFor(stateDir, 'net-again', PORT_PREFIX),
    };
    for (let i = 0; i < 5; i++) {
      const c = await runtime.launch(busyboxPlan('net-again', ['true'], map, { network }));
      expect(c.hostIfName).toBe(network.hostIfName);
      expect((await runtime.wait('net-again')).exitCode).toBe(0);
    }
  });

  it('32 launches at once get 32 veths with distinct addresses, and none are left after a SIGKILLed launcher', async () => {
    const ids = Array.from({ length: 32 }, (_, i) => `net-many-${i}`);
    const launched = await Promise.all(ids.map((id, i) => launchOnBridge(id, 100 + i, ['sleep', '600'])));
    const names = launched.map((c) => c.hostIfName as string);
    expect(new Set(names).size).toBe(32);
    for (const name of names) expect(bridgePorts(BRIDGE)).toContain(name);
    const addrs = launched.map(
      (c) =>
        execFileSync('nsenter', ['-t', String(c.pid), '-n', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }).split(
          /\s+/,
        )[3],
    );
    expect(new Set(addrs).size).toBe(32);

    // More launches, and the launcher killed while they are under way: the next one adopts what
    // ran, kills what was half-launched, and every veth goes with its container.
    const reconnected = once(runtime, 'reconnected');
    const more = Array.from({ length: 16 }, (_, i) => `net-crash-${i}`);
    const attempts = Promise.allSettled(more.map((id, i) => launchOnBridge(id, 140 + i, ['sleep', '600'])));
    await sleep(5);
    process.kill(launcherPidOf(stateDir), 'SIGKILL');
    await reconnected;
    await attempts;
    const running = (await runtime.adopt()).filter((r) => r.state === 'running' && r.id.startsWith('net-'));
    await Promise.all(
      running.filter((r) => r.id.startsWith('net-many-') || r.id.startsWith('net-crash-')).map((r) => runtime.stop(r.id, 0)),
    );
    const ours = [...names, ...more.map((id) => hostIfNameFor(stateDir, id, PORT_PREFIX))];
    let left: string[] = [];
    for (let i = 0; i < 50; i++) {
      left = readdirSync('/sys/class/net').filter((n) => ours.includes(n));
      if (left.length === 0) break;
      await sleep(100);
    }
    expect(left).toEqual([]);
  });

  it('the sweep removes a stray port of our prefix on the bridge and keeps the listed ones', async () => {
    const stray = `${PORT_PREFIX}stray${tag}`.slice(0, 15);
    execFileSync('ip', ['link', 'add', stray, 'type', 'veth', 'peer', 'name', `ngs${tag}`]);
    execFileSync('ip', ['link', 'set', stray, 'master', BRIDGE]);
    const web = hostIfNameFor(stateDir, 'net-web', PORT_PREFIX);
    expect(bridgePorts(BRIDGE)).toEqual(expect.arrayContaining([stray, web]));
    const keep = new Set(bridgePorts(BRIDGE).filter((n) => n !== stray));
    expect(await removeStrayPorts(BRIDGE, keep, PORT_PREFIX)).toEqual([stray]);
    expect(existsSync(`/sys/class/net/${stray}`)).toBe(false);
    expect(existsSync(`/sys/class/net/ngs${tag}`)).toBe(false);
    expect(bridgePorts(BRIDGE)).toContain(web);
  });

  it('leaves no veth once every container has exited', async () => {
    const ids = ['net-web', 'net-a2', 'net-b1', 'net-spoof-ip', 'net-spoof-mac', 'net-unlisted'];
    await Promise.all(ids.map((id) => runtime.stop(id, 0)));
    // the pairs go with the containers' netns, which the kernel tears down in the background
    for (let i = 0; i < 50 && bridgePorts(BRIDGE).length > 0; i++) await sleep(100);
    expect(bridgePorts(BRIDGE)).toEqual([]);
    const leftovers = readdirSync('/sys/class/net').filter((n) => PORT_NAME.test(n) && entries.some((e) => e.hostIfName === n));
    expect(leftovers).toEqual([]);
  });
});
