// Layer and archive compression, told by magic bytes rather than names or media types: gzip by
// Node's zlib, zstd by Debian's `zstd -dc` (Node 20's zlib has none) in a process of its own,
// whose output the extractor still counts against its decompressed limit.
import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

import { NativeError } from '../errors';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Tells the compression from the first bytes of a stream. */
export function compressionOf(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Names a few well-known formats by their magic, for an error that says what was sent. */
export function describeMagic(head: Buffer): string | undefined {
  const starts = (bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts([0x50, 0x4b, 0x03, 0x04])) return 'a zip archive';
  if (starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'an xz stream';
  if (starts([0x42, 0x5a, 0x68])) return 'a bzip2 stream';
  if (starts([0x37, 0x7a, 0xbc, 0xaf])) return 'a 7z archive';
  if (head[0] === 0x7b || head[0] === 0x5b) return 'JSON text';
  return undefined;
}

/** A decompressed stream and the promise of the decompressor's own verdict. */
export interface Decompression {
  output: Readable;
  /** Resolves when the decompressor ended cleanly; rejects with INVALID_INPUT naming what when the data is bad. */
  finished: Promise<void>;
}

/**
 * Decompresses source. `what` names the data in errors ("layer sha256:…"). An error of the
 * consumer (it stopped reading) is not the data's fault: abort() ends the decompressor quietly.
 */
export function decompress(source: Readable, compression: Compression, what: string): Decompression & { abort(): void } {
  const chain = startDecompression(source, compression, what);
  // Awaited only after the consumer is done; until then a rejection is not unhandled.
  chain.finished.catch(() => undefined);
  return chain;
}

function startDecompression(source: Readable, compression: Compression, what: string): Decompression & { abort(): void } {
  if (compression === 'none') {
    const output = new PassThrough();
    const finished = pipeline(source, output);
    return { output, finished, abort: () => destroyAll(source, output) };
  }
  if (compression === 'gzip') {
    const gunzip = createGunzip();
    const output = new PassThrough();
    const finished = pipeline(source, gunzip, output).catch((err: unknown) => {
      throw badData(err, what, 'gzip');
    });
    return { output, finished, abort: () => destroyAll(source, gunzip, output) };
  }
  const child = spawn('zstd', ['-dc', '-q', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  let aborted = false;
  child.stdin.on('error', () => undefined); // zstd refusing the data breaks the pipe; its status says why
  const fed = pipeline(source, child.stdin).catch(() => undefined);
  const finished = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new NativeError(`cannot run zstd to decompress ${what}: ${err.message}`, { code: 'INTERNAL' })));
    child.once('close', (status, signal) => {
      void fed.then(() => {
        // Killed by abort(): the consumer's error is the one to report.
        if (status === 0 || (aborted && signal === 'SIGKILL')) resolve();
        else reject(new NativeError(`${what} is not valid zstd: ${stderr.trim().slice(0, 300)}`, { code: 'INVALID_INPUT' }));
      });
    });
  });
  const abort = () => {
    aborted = true;
    source.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return { output: child.stdout, finished, abort };
}

/**
 * Ends a chain whose consumer has stopped reading: the source alone is not enough, since it may
 * have ended already while the rest waits, full, for a reader that is gone.
 */
function destroyAll(...streams: Array<{ destroy(): unknown }>): void {
  for (const stream of streams) stream.destroy();
}

function badData(err: unknown, what: string, format: string): unknown {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new NativeError(`${what} is not valid ${format}: ${(err as Error).message}`, { code: 'INVALID_INPUT' });
  }
  return err;
}
