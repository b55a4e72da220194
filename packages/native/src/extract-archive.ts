import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

import { peek } from './peek-stream';
import { NativeError } from './errors';
import { findExtractor } from './loader';

/** What an archive may cost; each counts what is read or written, never what a header claims. */
export interface ExtractLimits {
  /** Uncompressed archive bytes (a .tar.gz is counted after gunzip). */
  maxBytes: number;
  /** Archive entries, skipped ones included, and the directories their paths imply (each an inode). */
  maxEntries: number;
  /** Path components of one entry. */
  maxDepth: number;
}

/** An entry that was not extracted: /dev is a fresh tmpfs in every container. */
export interface SkippedEntry {
  path: string;
  type: 'char-device' | 'block-device' | 'fifo';
}

/** What nagaya-extract wrote. */
export interface ExtractResult {
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  /** Regular-file content written. */
  fileBytes: number;
  /** Uncompressed archive bytes read. */
  inputBytes: number;
  /** Whiteout devices made from `.wh.` entries (an OCI layer only). */
  whiteouts: number;
  /** Directories marked opaque by `.wh..wh..opq` (an OCI layer only). */
  opaqueDirs: number;
  /** Every skipped entry; `skipped` lists the first ones (1000 at most, 64 KiB of paths). */
  skippedTotal: number;
  skipped: SkippedEntry[];
}

/** How to read the archive. */
export interface ExtractOptions {
  /**
   * The input is one OCI image layer, already decompressed: it is not sniffed for gzip, and its
   * `.wh.` entries become overlay whiteouts (char device 0:0) and opaque marks (xattrs) instead
   * of files.
   */
  ociLayer?: boolean;
}

interface ExtractorError {
  code: 'INVALID_INPUT' | 'PAYLOAD_TOO_LARGE' | 'INVALID_ARGUMENT' | 'INTERNAL';
  message: string;
  entry?: string;
  syscall?: string;
  errno?: number;
}

const REPORT_LIMIT = 1024 * 1024;

/**
 * Extracts a tar or tar.gz stream into dest, a directory that must not exist yet: it is made
 * 0700, filled by the nagaya-extract executable (which writes nothing outside it and follows no
 * symlink), and removed again if anything fails, so a failure leaves nothing behind.
 * Errors are NativeErrors: INVALID_INPUT (malformed or hostile archive, bad gzip),
 * PAYLOAD_TOO_LARGE (a limit), an errno name (the host failed), EXTRACT_FAILED (the extractor
 * died); an error of the input stream itself (e.g. an upload limit) is rethrown as it is.
 */
export async function extractArchive(
  input: Readable,
  dest: string,
  limits: ExtractLimits,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const extractor = findExtractor();
  await mkdir(dest, { mode: 0o700 });
  try {
    return await runExtractor(extractor, input, dest, limits, options);
  } catch (err) {
    await rm(dest, { recursive: true, force: true });
    throw err;
  }
}

async function runExtractor(
  extractor: string,
  input: Readable,
  dest: string,
  limits: ExtractLimits,
  options: ExtractOptions,
): Promise<ExtractResult> {
  const args = [
    dest,
    ...(options.ociLayer ? ['--oci-whiteouts'] : []),
    '--max-bytes',
    String(limits.maxBytes),
    '--max-entries',
    String(limits.maxEntries),
    '--max-depth',
    String(limits.maxDepth),
  ];
  const child = spawn(extractor, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    if (stdout.length < REPORT_LIMIT) stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < REPORT_LIMIT) stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // Swallowed here and reported below: an EPIPE after the extractor refused the archive says
  // nothing the extractor's own report does not.
  child.stdin.on('error', () => undefined);

  // An input that fails (not gzip, an upload limit, a client gone) stops the extractor; the
  // extractor ending first only breaks the pipe, which its own report explains.
  let feedError: unknown;
  let feedSettled = false;
  const fed = (async () => {
    const source = options.ociLayer ? { gzip: false, stream: input } : await sniffGzip(input);
    if (source.gzip) await pipeline(source.stream, createGunzip(), child.stdin);
    else await pipeline(source.stream, child.stdin);
  })()
    .catch((err: unknown) => {
      if (brokenByExtractor(err)) return;
      feedError = err;
      child.kill('SIGKILL');
    })
    .finally(() => {
      feedSettled = true;
    });

  const { code, signal } = await exited;
  // Stop reading the input at once rather than wait for a slow client to send more. A feed that
  // failed did so before the exit (it is what killed the extractor); one still waiting for the
  // client's first bytes has nothing to add and is left to the input's own end.
  if (!child.stdin.writableFinished) child.stdin.destroy();
  if (code === 0 || feedSettled) await fed;

  const report = parseReport(stdout);
  if (code === 0 && feedError === undefined && report && !('error' in report)) return report;
  // The input's own failure first: it cut the extractor's stdin short, so whatever the extractor
  // said then ("truncated") is a consequence.
  if (feedError !== undefined) throw feedFailure(feedError);
  if (report && 'error' in report) throw extractorFailure(report.error);
  throw new NativeError(`nagaya-extract died (${signal ?? `exit status ${code}`})${stderr ? `: ${stderr.trim().slice(0, 500)}` : ''}`, {
    code: 'EXTRACT_FAILED',
    details: { signal, status: code },
  });
}

function brokenByExtractor(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}

function parseReport(stdout: string): ExtractResult | { error: ExtractorError } | undefined {
  const line = stdout.trim().split('\n').pop();
  if (!line) return undefined;
  try {
    return JSON.parse(line) as ExtractResult | { error: ExtractorError };
  } catch {
    return undefined;
  }
}

function extractorFailure(e: ExtractorError): NativeError {
  const where = e.entry === undefined ? '' : `${e.entry}: `;
  if (e.code === 'INVALID_INPUT' || e.code === 'PAYLOAD_TOO_LARGE') {
    return new NativeError(`${where}${e.message}`, { code: e.code, details: e.entry === undefined ? undefined : { entry: e.entry } });
  }
  if (e.syscall !== undefined && e.errno !== undefined) return NativeError.fromStep('extract', e.syscall, e.errno, e.entry);
  return new NativeError(`nagaya-extract: ${where}${e.message}`, { code: 'EXTRACT_FAILED' });
}

/** zlib's own errors (Z_DATA_ERROR, Z_BUF_ERROR: not gzip, or cut short) are the archive's fault. */
function feedFailure(err: unknown): unknown {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new NativeError(`the archive is not valid gzip: ${(err as Error).message}`, { code: 'INVALID_INPUT' });
  }
  return err;
}

/** Whether the stream is gzip (it starts 1f 8b), and a stream that still yields its first chunk. */
async function sniffGzip(body: Readable): Promise<{ gzip: boolean; stream: Readable }> {
  const { head, stream } = await peek(body);
  return { gzip: head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b, stream };
}
