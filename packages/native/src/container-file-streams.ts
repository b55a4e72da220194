import { spawn, type ChildProcess } from 'node:child_process';
import { Transform, type Readable, type Writable } from 'node:stream';

import { NativeError } from './errors';
import { findExtractor } from './loader';

/** What the extractor says of a file it is about to send: owners as the container sees them. */
export interface ContainerFileHead {
  /** A regular file's bytes, or for a directory the tar of its tree. */
  type: 'file' | 'directory';
  /** A file's size (a directory's tar has none until it is sent). */
  size?: number;
  mode: number;
  uid: number;
  gid: number;
}

/** A file (or a directory's tar) of a container being read: `data` ends only if all of it came, and errors otherwise. */
export interface ContainerFileReader extends ContainerFileHead {
  /** The bytes; destroying it kills the extractor. */
  data: Readable;
}

/** What a write into a container may cost (the extractor's limits). */
export interface ContainerWriteLimits {
  maxBytes: number;
  maxEntries: number;
  maxDepth: number;
}

/** A tar being unpacked into a container. */
export interface ContainerWriter {
  /** The tar's bytes: the extractor's stdin. */
  input: Writable;
  /** Resolves once the extractor has written everything; rejects with its report. */
  finished: Promise<void>;
  /**
   * Cuts the tar short: the extractor sees its input end inside an entry, so it fails and unlinks
   * the file it was writing (entries before it stay written). SIGTERM follows if it lingers.
   */
  abort(): void;
}

/** What is kept of the extractor's stdout to find its report in: the report is its last line, and short. */
const REPORT_TAIL_BYTES = 4096;

interface ReportedError {
  code: string;
  message: string;
  entry?: string;
  syscall?: string;
  errno?: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

/** The extractor's failure from the end of its stdout (its report, when it made one). */
function failure(stdoutTail: Buffer, exit: Exit): NativeError {
  const at = stdoutTail.lastIndexOf('{"error"');
  try {
    const e = at < 0 ? undefined : (JSON.parse(stdoutTail.subarray(at).toString('utf8').trim()) as { error?: ReportedError }).error;
    if (e) {
      const where = e.entry === undefined ? '' : `${e.entry}: `;
      if (e.code === 'INVALID_INPUT' || e.code === 'PAYLOAD_TOO_LARGE') return new NativeError(`${where}${e.message}`, { code: e.code });
      if (e.syscall !== undefined && e.errno !== undefined) return NativeError.fromStep('files', e.syscall, e.errno, e.entry);
      return new NativeError(`nagaya-extract: ${where}${e.message}`, { code: 'EXTRACT_FAILED' });
    }
  } catch {
    // not a report: the extractor died
  }
  return new NativeError(`nagaya-extract died (${exit.signal ?? `exit status ${exit.code}`})`, { code: 'EXTRACT_FAILED' });
}

/**
 * Opens a regular file of the running container whose init is `pid` for reading: nagaya-extract
 * joins the container's user and mount namespaces and opens the path beneath the container's root
 * (openat2 RESOLVE_IN_ROOT, no magic links); a directory comes as a tar of its tree (symlinks not
 * followed, other mounts not entered, devices, FIFOs and sockets left out). Resolves once the
 * extractor has said what it sends; a device, FIFO or socket is refused (INVALID_INPUT), a file
 * over maxBytes is PAYLOAD_TOO_LARGE, a missing one ENOENT. The bytes then stream as they are
 * read (the extractor waits while they are not taken); a tree past maxBytes, or a file that
 * shrank, errors `data` at the end instead of ending it.
 */
export async function openContainerFileRead(pid: number, path: string, maxBytes: number): Promise<ContainerFileReader> {
  const child = spawn(findExtractor(), ['--enter-pid', String(pid), '--read', path, '--max-bytes', String(maxBytes)], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const exited = exitOf(child);
  exited.catch(() => undefined);
  let seen = Buffer.alloc(0);
  for await (const chunk of child.stdout.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    seen = Buffer.concat([seen, chunk]);
    const newline = seen.indexOf(0x0a);
    if (newline < 0) continue;
    const head = JSON.parse(seen.subarray(0, newline).toString('utf8')) as ContainerFileHead | { error: ReportedError };
    if ('error' in head) break; // refused before the first byte: its report is the line
    const rest = seen.subarray(newline + 1);
    if (rest.length > 0) child.stdout.unshift(rest);
    return { ...head, data: child.stdout.pipe(reportHeldBack(child, exited, head, path)) };
  }
  child.stdout.resume(); // to its end, so that the process's close comes
  throw failure(seen, await exited);
}

/**
 * Passes the extractor's stdout on but for its last REPORT_TAIL_BYTES, which are held until it
 * exits: they are the file's end if it succeeded, its error report if not (never sent as data).
 */
function reportHeldBack(child: ChildProcess, exited: Promise<Exit>, head: ContainerFileHead, path: string): Transform {
  let held = Buffer.alloc(0);
  let sent = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const all = held.length ? Buffer.concat([held, chunk]) : chunk;
      const pass = Math.max(0, all.length - REPORT_TAIL_BYTES);
      held = Buffer.from(all.subarray(pass));
      sent += pass;
      callback(null, pass > 0 ? all.subarray(0, pass) : undefined);
    },
    flush(callback) {
      exited.then(
        (exit) => {
          if (exit.code !== 0) return callback(failure(held, exit));
          if (head.type === 'file' && sent + held.length !== head.size) {
            return callback(new NativeError(`${path} changed while it was read`, { code: 'EXTRACT_FAILED' }));
          }
          callback(null, held);
        },
        (err: Error) => callback(err),
      );
    },
  });
  // a reader that stops (the client left) stops the extractor
  stream.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return stream;
}

/**
 * Starts unpacking a tar into the existing directory `dir` of the running container whose init is
 * `pid`, through the safe extractor run inside the container's user and mount namespaces: `dir` is
 * resolved beneath the container's root (a symlink to "/" stays inside), every entry beneath `dir`
 * with no symlink followed and no `..`, owners are the container's own (the kernel writes the
 * slice's host ids), `dir`'s own mode is left as it is, and each regular file is written under a
 * temporary name and renamed into place once whole. The tar streams into `input`.
 */
export function openContainerWrite(pid: number, dir: string, limits: ContainerWriteLimits): ContainerWriter {
  const args = ['--enter-pid', String(pid), dir, '--max-bytes', String(limits.maxBytes)];
  args.push('--max-entries', String(limits.maxEntries), '--max-depth', String(limits.maxDepth));
  const child = spawn(findExtractor(), args, { stdio: ['pipe', 'pipe', 'ignore'] });
  let tail = Buffer.alloc(0);
  child.stdout.on('data', (chunk: Buffer) => {
    const all = Buffer.concat([tail, chunk]);
    tail = all.subarray(Math.max(0, all.length - REPORT_TAIL_BYTES));
  });
  // the extractor's own report says why it stopped reading
  child.stdin.on('error', () => undefined);
  const finished = exitOf(child).then((exit) => {
    if (exit.code !== 0) throw failure(tail, exit);
  });
  return {
    input: child.stdin,
    finished,
    abort() {
      child.stdin.destroy();
      const linger = setTimeout(() => child.kill('SIGTERM'), 5_000);
      linger.unref();
      finished.catch(() => undefined).finally(() => clearTimeout(linger));
    },
  };
}
