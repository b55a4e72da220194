import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

// A network namespace a test makes to stand in for another host or for "the internet": linked to
// the host by a veth pair on a /30 of its own (10.250-253.x.y, outside every container subnet the
// tests carve from 10.200-249), with no route but that link, so nothing it sends can leave the
// machine. Forwarding is switched on for the link's host end only (and for the bridges a test
// names), never the global ip_forward, and put back by remove().

export class LinkedNetns {
  private readonly children: ChildProcess[] = [];
  private readonly forwarding = new Map<string, string>();

  private constructor(
    /** The namespace's name (ip netns). */
    readonly name: string,
    /** The host end of the link. */
    readonly hostIf: string,
    /** The host's address on the link. */
    readonly hostAddress: string,
    /** The namespace's own address. */
    readonly address: string,
  ) {}

  /** Makes the namespace and its link; a half-made one is removed before the error is thrown. */
  static create(role: string): LinkedNetns {
    const tag = randomBytes(3).toString('hex');
    const base = `10.${250 + randomInt(4)}.${randomInt(256)}.${4 * randomInt(64)}`;
    const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number];
    const ns = new LinkedNetns(`ng${role}${tag}`, `nl${tag}`, `${a}.${b}.${c}.${d + 1}`, `${a}.${b}.${c}.${d + 2}`);
    try {
      ip('netns', 'add', ns.name);
      ip('link', 'add', ns.hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name);
      ip('addr', 'add', `${ns.hostAddress}/30`, 'dev', ns.hostIf);
      ip('link', 'set', ns.hostIf, 'up');
      ip('-n', ns.name, 'addr', 'add', `${ns.address}/30`, 'dev', 'eth0');
      ip('-n', ns.name, 'link', 'set', 'eth0', 'up');
      ip('-n', ns.name, 'link', 'set', 'lo', 'up');
    } catch (err) {
      ns.remove();
      throw err;
    }
    return ns;
  }

  /**
   * Lets the host route packets that arrive on the link and on each of `interfaces` (IPv4 checks
   * the forwarding flag of the interface a packet came in by); remove() puts the flags back.
   */
  forward(...interfaces: string[]): void {
    for (const dev of [this.hostIf, ...interfaces]) {
      const path = `/proc/sys/net/ipv4/conf/${dev}/forwarding`;
      if (!this.forwarding.has(dev)) this.forwarding.set(dev, readFileSync(path, 'utf8').trim());
      writeFileSync(path, '1');
    }
  }

  /**
   * Runs a command inside the namespace (without blocking this process, whose API may be the one
   * it talks to) and returns its output; what it printed so far if it fails or outlives timeoutMs.
   */
  async runAsync(command: string[], timeoutMs = 10_000): Promise<string> {
    try {
      return (await run('ip', ['netns', 'exec', this.name, ...command], { encoding: 'utf8', timeout: timeoutMs })).stdout;
    } catch (err) {
      return String((err as { stdout?: string }).stdout ?? '');
    }
  }

  /** Starts a process inside the namespace; remove() kills it. */
  spawn(command: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  /**
   * Starts peerServerScript on the namespace's address and port and waits (10 s at most) until it
   * listens; the returned list fills with "<from> <payload>" for each UDP datagram it receives.
   */
  async startPeerServer(port: number): Promise<string[]> {
    const datagrams: string[] = [];
    const server = this.spawn([process.execPath, '-e', peerServerScript(this.address, port)]);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server in ${this.name} did not start within 10 s`)), 10_000);
      server.once('exit', (code) => reject(new Error(`the server in ${this.name} exited (${code})`)));
      server.stdout!.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) {
          if (line === 'ready') {
            clearTimeout(timer);
            resolve();
          } else if (line.startsWith('udp ')) datagrams.push(line.slice(4));
        }
      });
    });
    return datagrams;
  }

  /** Kills what it started, puts the forwarding flags back, deletes the link and the namespace. */
  remove(): void {
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const [dev, value] of this.forwarding) {
      const path = `/proc/sys/net/ipv4/conf/${dev}/forwarding`;
      if (existsSync(path)) writeFileSync(path, value);
    }
    if (existsSync(`/sys/class/net/${this.hostIf}`)) tryIp('link', 'del', this.hostIf);
    tryIp('netns', 'del', this.name);
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function tryIp(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // already gone
  }
}

/**
 * A server for a namespace (run with `node -e`): on TCP port `port` it answers each connection
 * with the address it came from and closes; on UDP port `port` it prints `udp <from> <payload>`
 * for each datagram. Prints `ready` once both listen.
 */
function peerServerScript(address: string, port: number): string {
  return `
const net = require('node:net'), dgram = require('node:dgram');
let up = 0; const ready = () => { if (++up === 2) console.log('ready'); };
net.createServer((s) => { s.on('error', () => {}); s.end('from ' + s.remoteAddress + '\\n'); }).listen(${port}, '${address}', ready);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => console.log('udp ' + r.address + ' ' + m.toString().trim()));
u.bind(${port}, '${address}', ready);
setTimeout(() => process.exit(0), 120000);
`;
}
