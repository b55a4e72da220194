import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';

import { NativeError } from './errors';
import { findExtractor } from './loader';

/** A regular file read from inside a container: owners as the container sees them (0..65535). */
export interface ContainerFile {
  /** A regular file's bytes, or for a directory the tar of its tree. */
  type: 'file' | 'directory';
  data: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

/** What a single file written into a container gets: mode bits and container-relative owners. */
export interface ContainerFileAttributes {
  mode: number;
  uid: number;
  gid: number;
}

/** What a write into a container may cost (the extractor's limits). */
export interface ContainerWriteLimits {
  maxBytes: number;
  maxEntries: number;
  maxDepth: number;
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
}

function run(args: string[], input: Buffer | null): Promise<Outcome> {
  const child = spawn(findExtractor(), args, { stdio: ['pipe', 'pipe', 'ignore'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  child.stdin.on('error', () => undefined); // the extractor's own report says why it stopped reading
  if (input) Readable.from([input]).pipe(child.stdin);
  else child.stdin.end();
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(chunks) }));
  });
}

interface ReportedError {
  code: string;
  message: string;
  entry?: string;
  syscall?: string;
  errno?: number;
}

function failure(line: string, outcome: Outcome): NativeError {
  try {
    const e = (JSON.parse(line) as { error?: ReportedError }).error;
    if (e) {
      const where = e.entry === undefined ? '' : `${e.entry}: `;
      if (e.code === 'INVALID_INPUT' || e.code === 'PAYLOAD_TOO_LARGE') return new NativeError(`${where}${e.message}`, { code: e.code });
      if (e.syscall !== undefined && e.errno !== undefined) return NativeError.fromStep('files', e.syscall, e.errno, e.entry);
      return new NativeError(`nagaya-extract: ${where}${e.message}`, { code: 'EXTRACT_FAILED' });
    }
  } catch {
    // not a report: the extractor died
  }
  return new NativeError(`nagaya-extract died (${outcome.signal ?? `exit status ${outcome.code}`})`, { code: 'EXTRACT_FAILED' });
}

/**
 * Reads a regular file of the running container whose init is `pid`: nagaya-extract joins the
 * container's user and mount namespaces and opens the path beneath the container's root
 * (openat2 RESOLVE_IN_ROOT, no magic links); a directory comes as a tar of its tree (symlinks not
 * followed, other mounts not entered, devices, FIFOs and sockets left out); a device, FIFO or socket
 * is refused (INVALID_INPUT), a file over maxBytes is PAYLOAD_TOO_LARGE, a missing one ENOENT.
 */
export async function readContainerFile(pid: number, path: string, maxBytes: number): Promise<ContainerFile> {
  const outcome = await run(['--enter-pid', String(pid), '--read', path, '--max-bytes', String(maxBytes)], null);
  if (outcome.code !== 0) {
    // the report is the last line, after whatever part of a tree was already sent
    const at = outcome.stdout.lastIndexOf('{"error"');
    throw failure(at < 0 ? '' : outcome.stdout.subarray(at).toString('utf8').trim(), outcome);
  }
  const newline = outcome.stdout.indexOf(0x0a);
  const meta = JSON.parse(outcome.stdout.subarray(0, newline).toString('utf8')) as {
    type: 'file' | 'directory';
    size?: number;
    mode?: number;
    uid?: number;
    gid?: number;
  };
  const data = outcome.stdout.subarray(newline + 1);
  if (meta.type === 'directory') return { type: 'directory', data, mode: 0, uid: 0, gid: 0 };
  if (data.length !== meta.size) throw new NativeError(`${path} changed while it was read`, { code: 'EXTRACT_FAILED' });
  return { type: 'file', data, mode: meta.mode ?? 0, uid: meta.uid ?? 0, gid: meta.gid ?? 0 };
}

/**
 * Unpacks a tar into the existing directory `dir` of the running container whose init is `pid`,
 * through the safe extractor run inside the container's user and mount namespaces: `dir` is
 * resolved beneath the container's root (a symlink to "/" stays inside), every entry beneath
 * `dir` with no symlink followed and no `..`, owners are the container's own (the kernel writes
 * the slice's host ids), and `dir`'s own mode is left as it is.
 */
export async function writeIntoContainer(pid: number, dir: string, tar: Buffer, limits: ContainerWriteLimits): Promise<void> {
  const outcome = await run(
    [
      '--enter-pid',
      String(pid),
      dir,
      '--max-bytes',
      String(limits.maxBytes),
      '--max-entries',
      String(limits.maxEntries),
      '--max-depth',
      String(limits.maxDepth),
    ],
    tar,
  );
  const line = outcome.stdout.toString('utf8').trim().split('\n').pop() ?? '';
  if (outcome.code !== 0) throw failure(line, outcome);
}

/** A tar of one regular file named `name` (a PAX header carries the name, so any length fits). */
export function singleFileTar(name: string, data: Buffer, attributes: ContainerFileAttributes): Buffer {
  const record = (key: string, value: string): Buffer => {
    const body = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(body) + 1;
    while (`${length}${body}`.length !== length) length = Buffer.byteLength(`${length}${body}`);
    return Buffer.from(`${length}${body}`);
  };
  const pax = record('path', name);
  return Buffer.concat([
    header('pax', 'x', pax.length, 0o644, 0, 0),
    padded(pax),
    header(name.slice(0, 99), '0', data.length, attributes.mode & 0o7777, attributes.uid, attributes.gid),
    padded(data),
    Buffer.alloc(1024),
  ]);
}

function padded(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

function header(name: string, typeflag: string, size: number, mode: number, uid: number, gid: number): Buffer {
  const h = Buffer.alloc(512);
  const octal = (value: number, at: number, width: number) => h.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'ascii');
  h.write(name, 0, 100, 'utf8');
  octal(mode, 100, 8);
  octal(uid, 108, 8);
  octal(gid, 116, 8);
  octal(size, 124, 12);
  octal(Math.floor(Date.now() / 1000), 136, 12);
  h.write(typeflag, 156, 1, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}
