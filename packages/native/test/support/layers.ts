// Hand-made image layers for tests: whiteouts as overlay writes them (0:0 character devices),
// opaque directories marked the way the image importer marks them, and a digest of a tree that
// changes with any change to a layer (content, owner, mode, times, entries).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Layer-making tools whose xattr helper (fixtures/xattr.c, Node has no xattr calls) is built in dir. */
export function layerTools(dir: string) {
  const xattr = join(dir, 'xattr');
  execFileSync('gcc', ['-O1', '-o', xattr, join(__dirname, '../fixtures/xattr.c')], { stdio: 'pipe' });
  return {
    /** Writes a whiteout of path: what a layer that deletes path holds. */
    whiteout(path: string): void {
      execFileSync('mknod', [path, 'c', '0', '0']);
    },
    /** Marks a directory opaque as the image importer does: the trusted and the user overlay xattr. */
    markOpaque(path: string): void {
      execFileSync(xattr, ['set', path, 'trusted.overlay.opaque', 'y']);
      execFileSync(xattr, ['set', path, 'user.overlay.opaque', 'y']);
    },
    /** Reads an xattr of path, or undefined when it has none of that name. */
    readXattr(path: string, name: string): string | undefined {
      try {
        return execFileSync(xattr, ['get', path, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        return undefined;
      }
    },
  };
}

/** A digest of a tree: every entry's path, type, mode, owner, size, rdev, mtime, ctime and content. */
export function treeDigest(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path, { bigint: true });
      hash.update(`${path.slice(root.length)} ${st.mode} ${st.uid}:${st.gid} ${st.size} ${st.rdev} ${st.mtimeNs} ${st.ctimeNs}\n`);
      if (st.isFile()) hash.update(readFileSync(path));
      else if (st.isSymbolicLink()) hash.update(readlinkSync(path));
      else if (st.isDirectory()) walk(path);
    }
  };
  hash.update(String(lstatSync(root, { bigint: true }).ctimeNs));
  walk(root);
  return hash.digest('hex');
}
