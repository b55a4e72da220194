// `nagaya cp LOCAL NAME:/path` and `nagaya cp NAME:/path LOCAL`: files (binary-safe, any size:
// streamed both ways, never read whole into memory) and, into a container, directories (as a tar
// unpacked beneath the path).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '@nagaya/contract';
import type { ApiClient } from './api-client';

/** A `NAME:/path` argument: the container's name (a DNS label) and an absolute path in it. */
export function parseRemote(arg: string): { name: string; path: string } | undefined {
  const match = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?):(\/.*)$/.exec(arg);
  return match ? { name: match[1]!, path: match[3]! } : undefined;
}

const filesPath = (name: string, path: string) => `/containers/${name}/files?path=${encodeURIComponent(path)}`;

/** Copies between this machine and a running container; exactly one side is `NAME:/path`. */
export async function cpCommand(client: ApiClient, args: string[]): Promise<void> {
  if (args.length !== 2)
    throw new ApiError(0, 'INVALID_INPUT', 'cp needs a source and a destination: cp LOCAL NAME:/path or cp NAME:/path LOCAL');
  const [source, destination] = args as [string, string];
  const from = parseRemote(source);
  const to = parseRemote(destination);
  if ((from === undefined) === (to === undefined)) {
    throw new ApiError(0, 'INVALID_INPUT', 'cp copies between this machine and a container: exactly one of its two paths is NAME:/path');
  }
  if (to) return copyIn(client, source, to);
  return copyOut(client, from!, destination);
}

async function copyIn(client: ApiClient, source: string, to: { name: string; path: string }): Promise<void> {
  const stat = statSync(source);
  if (stat.isDirectory()) {
    // the directory's contents land beneath the container's path, which must exist
    const tar = spawn('tar', ['-C', source, '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '.'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const tarred = exitOf(tar, 'tar -c');
    await client.putStream(filesPath(to.name, to.path), tar.stdout!, { 'content-type': 'application/x-tar' });
    await tarred;
    return;
  }
  const path = to.path.endsWith('/') ? `${to.path}${basename(source)}` : to.path;
  await client.putStream(filesPath(to.name, path), createReadStream(source), {
    'content-type': 'application/octet-stream',
    'content-length': String(stat.size),
    'x-nagaya-mode': (stat.mode & 0o7777).toString(8),
  });
}

async function copyOut(client: ApiClient, remote: { name: string; path: string }, destination: string): Promise<void> {
  const { body, headers } = await client.download(filesPath(remote.name, remote.path));
  if (headers.get('content-type') === 'application/x-tar') {
    // a directory: its tree lands in LOCAL (made if missing), as `docker cp` does
    mkdirSync(destination, { recursive: true });
    const tar = spawn('tar', ['-C', destination, '-xf', '-', '--no-same-owner'], { stdio: ['pipe', 'inherit', 'inherit'] });
    const untarred = exitOf(tar, 'tar -x');
    await received(pipeline(body, tar.stdin!));
    await untarred;
    return;
  }
  const local = existsSync(destination) && statSync(destination).isDirectory() ? join(destination, basename(remote.path)) : destination;
  // written beside it and renamed once whole: a copy cut short leaves the old file, or none
  const partial = `${local}.nagaya-partial-${process.pid}`;
  try {
    await received(pipeline(body as Readable, createWriteStream(partial, { mode: 0o600 })));
    const mode = Number.parseInt(headers.get('x-nagaya-mode') ?? '644', 8);
    // setuid and setgid bits of the container's file mean nothing here
    chmodSync(partial, mode & 0o1777);
    renameSync(partial, local);
  } finally {
    rmSync(partial, { force: true });
  }
}

/** A download that broke off (the server cut it short: the copy failed midway) as the CLI's error. */
async function received(copy: Promise<void>): Promise<void> {
  try {
    await copy;
  } catch (err) {
    throw new ApiError(0, 'UNAVAILABLE', `the copy broke off before its end: ${(err as Error).message}`);
  }
}

function exitOf(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) =>
      code === 0 ? resolve() : reject(new ApiError(0, 'INTERNAL', `${what} failed (${signal ?? `exit status ${code}`})`)),
    );
  });
}
