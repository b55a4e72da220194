import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { NativeError } from './errors';

// A node's name server (root mode): one dnsmasq per bridge, answering only on the bridge, from a
// hosts directory the worker keeps current (dnsmasq re-reads a changed file by inotify). Like the
// launcher it outlives the worker, since the containers do and their resolv.conf names it; a new
// worker finds it by its pid file and keeps it when it runs with the arguments it would get now.
//
// Its files live in /run/nagaya/dns/<bridge>/, not in the worker's state directory: dnsmasq reads
// the hosts files after it has dropped root for an unprivileged user, and the state directory is
// root's alone (0700). The hosts directory is that user's (0500), so no other local user lists
// the node's container names either. /run is emptied at boot, when the process is gone anyway.

const run = promisify(execFile);

/** Where name servers keep their pid file and hosts directory, one directory per bridge. */
export const NAME_SERVER_RUN_DIR = '/run/nagaya/dns';

/** What ensureNameServer starts (or finds running). */
export interface NameServerOptions {
  /** The bridge it answers on, e.g. nagaya0; the server is named by it (one per bridge). */
  bridge: string;
  /** The bridge's address, where containers send their queries (their resolv.conf's nameserver). */
  gateway: string;
  /** The zone answered from the hosts files alone and never forwarded, e.g. nagaya.internal. */
  domain: string;
  /** IPv4 servers every other name is forwarded to; none (the default): other names are refused. */
  upstream?: string[];
  /** The unprivileged user dnsmasq drops to; default `dnsmasq` when the host has one, else `nobody`. */
  user?: string;
  /** Default NAME_SERVER_RUN_DIR (tests may use their own). */
  runDir?: string;
}

/** The files of one bridge's name server. */
export interface NameServerPaths {
  dir: string;
  pidFile: string;
  /** The directory dnsmasq watches (--hostsdir). */
  hostsDir: string;
  /** The one hosts file nagaya writes in it. */
  hostsFile: string;
}

const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;
const DOMAIN = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

function invalid(message: string): never {
  throw new NativeError(message, { code: 'INVALID_ARGUMENT' });
}

/** The files of the name server on `bridge`. */
export function nameServerPaths(bridge: string, runDir = NAME_SERVER_RUN_DIR): NameServerPaths {
  if (!IFNAME.test(bridge) || bridge === '.' || bridge === '..') invalid('bridge must be an interface name');
  const dir = join(runDir, bridge);
  const hostsDir = join(dir, 'hosts');
  return { dir, pidFile: join(dir, 'dnsmasq.pid'), hostsDir, hostsFile: join(hostsDir, 'containers') };
}

/** The user and uid dnsmasq runs as: `wanted`, or `dnsmasq` (Debian's dnsmasq-base makes it), or `nobody`. */
function dnsUser(wanted: string | undefined): { name: string; uid: number } {
  const users = new Map<string, number>();
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined) users.set(name, Number(uid));
  }
  for (const name of wanted ? [wanted] : ['dnsmasq', 'nobody']) {
    const uid = users.get(name);
    if (uid !== undefined && uid !== 0) return { name, uid };
  }
  return invalid(`no unprivileged user ${wanted ?? 'dnsmasq or nobody'} for the name server`);
}

/**
 * dnsmasq's arguments: no configuration of the host's read (/dev/null), only the bridge's address
 * listened on, no /etc/hosts, no resolv.conf; `domain` answered from the hosts directory alone.
 */
export function nameServerArgs(o: NameServerOptions, paths: NameServerPaths, user: string): string[] {
  if (!IFNAME.test(o.bridge)) invalid('bridge must be an interface name');
  if (!isIPv4(o.gateway)) invalid('gateway must be an IPv4 address');
  if (!DOMAIN.test(o.domain)) invalid('domain must be a DNS name');
  if (!USER.test(user)) invalid('user must be a user name');
  const upstream = o.upstream ?? [];
  if (upstream.some((s) => !isIPv4(s))) invalid('upstream servers must be IPv4 addresses');
  return [
    '--conf-file=/dev/null',
    `--pid-file=${paths.pidFile}`,
    `--user=${user}`,
    '--bind-interfaces',
    `--interface=${o.bridge}`,
    '--except-interface=lo',
    `--listen-address=${o.gateway}`,
    '--port=53',
    '--no-hosts',
    `--hostsdir=${paths.hostsDir}`,
    `--local=/${o.domain}/`,
    '--domain-needed',
    '--bogus-priv',
    '--no-resolv',
    ...upstream.map((s) => `--server=${s}`),
  ];
}

/** The command line of a live (not zombie) process, split at NULs; undefined when there is none. */
function liveCommandLine(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
}

/** The pid of the dnsmasq that wrote this pid file, if it still runs (a reused pid is some other command line). */
function runningPid(paths: NameServerPaths): { pid: number; args: string[] } | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pid) || pid <= 1) return undefined;
  const cmdline = liveCommandLine(pid);
  if (!cmdline || basename(cmdline[0] ?? '') !== 'dnsmasq' || !cmdline.includes(`--pid-file=${paths.pidFile}`)) return undefined;
  return { pid, args: cmdline.slice(1) };
}

async function stopPid(pid: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // gone already
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 100 && liveCommandLine(pid); i++) await sleep(20);
  if (liveCommandLine(pid)) signal('SIGKILL');
  for (let i = 0; i < 50 && liveCommandLine(pid); i++) await sleep(20);
}

/**
 * Makes sure the bridge's name server runs with these options: keeps one that does (a worker's
 * restart), replaces one started with other options, starts one otherwise (dnsmasq forks into
 * its own session and returns once it listens, or fails with its reason). Not on the launch path.
 */
export async function ensureNameServer(o: NameServerOptions): Promise<{ pid: number; started: boolean; paths: NameServerPaths }> {
  const paths = nameServerPaths(o.bridge, o.runDir);
  const user = dnsUser(o.user);
  const args = nameServerArgs(o, paths, user.name);
  mkdirSync(paths.dir, { recursive: true, mode: 0o711 });
  chmodSync(paths.dir, 0o711);
  mkdirSync(paths.hostsDir, { recursive: true, mode: 0o500 });
  chownSync(paths.hostsDir, user.uid, 0);
  chmodSync(paths.hostsDir, 0o500);
  if (!existsSync(paths.hostsFile)) await writeNameServerHosts(paths, '');

  const running = runningPid(paths);
  if (running && running.args.join('\0') === args.join('\0')) return { pid: running.pid, started: false, paths };
  if (running) await stopPid(running.pid);
  try {
    await run('dnsmasq', args, { timeout: 10_000 });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new NativeError(`dnsmasq for ${o.bridge} did not start: ${stderr || (err as Error).message}`, { code: 'HOST_NETWORK' });
  }
  const started = runningPid(paths);
  if (!started) throw new NativeError(`dnsmasq for ${o.bridge} started but its pid file names no dnsmasq`, { code: 'HOST_NETWORK' });
  return { pid: started.pid, started: true, paths };
}

/** The pid of the bridge's name server if it runs. */
export function nameServerPid(bridge: string, runDir = NAME_SERVER_RUN_DIR): number | undefined {
  return runningPid(nameServerPaths(bridge, runDir))?.pid;
}

/**
 * Replaces the hosts file whole (a temporary file renamed over it: dnsmasq never reads half of
 * one, and skips dot files, so it sees only the rename). Readable by dnsmasq's user through its
 * directory, which no one else can enter.
 */
export async function writeNameServerHosts(paths: NameServerPaths, text: string): Promise<void> {
  const tmp = join(paths.hostsDir, `.containers.${process.pid}.${Math.random().toString(36).slice(2)}`);
  try {
    await writeFile(tmp, text, { mode: 0o644, flag: 'wx' });
    await rename(tmp, paths.hostsFile);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The hosts file as it is now ('' when there is none). */
export function readNameServerHosts(paths: NameServerPaths): string {
  try {
    return readFileSync(paths.hostsFile, 'utf8');
  } catch {
    return '';
  }
}

/** Stops the bridge's name server and removes its files (the bridge is being torn down); nothing if there is none. */
export async function stopNameServer(bridge: string, runDir = NAME_SERVER_RUN_DIR): Promise<void> {
  const paths = nameServerPaths(bridge, runDir);
  const running = runningPid(paths);
  if (running) await stopPid(running.pid);
  rmSync(paths.dir, { recursive: true, force: true });
}
