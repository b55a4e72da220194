// `nagaya cp LOCAL NAME:/path` and `nagaya cp NAME:/path LOCAL`: files (binary-safe) and, into a
// container, directories (as a tar unpacked beneath the path).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
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
  if (to) {
    const stat = statSync(source);
    if (stat.isDirectory()) {
      // the directory's contents land beneath the container's path, which must exist
      const tar = execFileSync('tar', ['-C', source, '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 2 ** 31 });
      await client.putBytes(filesPath(to.name, to.path), tar, { 'content-type': 'application/x-tar' });
      return;
    }
    const path = to.path.endsWith('/') ? `${to.path}${basename(source)}` : to.path;
    await client.putBytes(filesPath(to.name, path), readFileSync(source), { 'x-nagaya-mode': (stat.mode & 0o7777).toString(8) });
    return;
  }
  const remote = from!;
  const { data, headers } = await client.getBytes(filesPath(remote.name, remote.path));
  if (headers.get('content-type') === 'application/x-tar') {
    // a directory: its tree lands in LOCAL (made if missing), as `docker cp` does
    mkdirSync(destination, { recursive: true });
    execFileSync('tar', ['-C', destination, '-xf', '-', '--no-same-owner'], { input: data });
    return;
  }
  const local = existsSync(destination) && statSync(destination).isDirectory() ? join(destination, basename(remote.path)) : destination;
  writeFileSync(local, data);
  const mode = Number.parseInt(headers.get('x-nagaya-mode') ?? '644', 8);
  // setuid and setgid bits of the container's file mean nothing here
  chmodSync(local, mode & 0o1777);
}
