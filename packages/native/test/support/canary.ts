// What an escape from an extraction root would change: snapshots of host files (owner, mode,
// link count, mtime and content, symlinks not followed), taken before and compared after.
// Shared by the native extractor fuzz test and the server's hostile image-import test.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Owner, mode, link count, size and mtime of one path (its content is not read: /etc/shadow). */
export function statLine(path: string): string {
  const st = lstatSync(path);
  return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} nlink=${st.nlink} size=${st.size} mtime=${st.mtimeMs}`;
}

/** Everything under dir (dir included): stat line and content, listing or link target. */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (path: string) => {
    const st = lstatSync(path);
    const what = st.isSymbolicLink()
      ? `-> ${readlinkSync(path)}`
      : st.isFile()
        ? readFileSync(path, 'utf8')
        : `[${readdirSync(path).sort().join(',')}]`;
    out[path] = `${statLine(path)} ${what}`;
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return out;
}
