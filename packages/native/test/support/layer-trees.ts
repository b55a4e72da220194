// Unpacked layer trees as data: each path's type, mode, owner and content, whiteout devices and
// opaque marks (both xattrs) included, and the stacking of layers by overlay's rules (a
// whiteout or an opaque directory hides what lower layers hold), so a test can compare and hash
// the tree a container would see.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface TreeNode {
  /** "file <sha256>", "dir", "symlink -> target", "whiteout" (char 0:0) or "char a:b". */
  what: string;
  mode: number;
  uid: number;
  gid: number;
  /** Both overlay opaque xattrs are "y" (a layer's directory only). */
  opaque?: boolean;
  /** Only one of the two opaque xattrs is set: a bug to be seen. */
  halfOpaque?: boolean;
}

export type Tree = Map<string, TreeNode>;

/** Directories under root with each opaque xattr, read by Debian's python3 (Node has no getxattr). */
function opaqueDirs(root: string): Map<string, string[]> {
  const script = `
import os, sys, json
out = {}
for d, dirs, files in os.walk(sys.argv[1]):
    names = []
    for a in ('trusted.overlay.opaque', 'user.overlay.opaque'):
        try:
            if os.getxattr(d, a, follow_symlinks=False) == b'y': names.append(a)
        except OSError:
            pass
    if names: out[os.path.relpath(d, sys.argv[1])] = names
print(json.dumps(out))`;
  const run = spawnSync('/usr/bin/python3', ['-c', script, root], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`reading xattrs failed: ${run.stderr}`);
  return new Map(Object.entries(JSON.parse(run.stdout) as Record<string, string[]>));
}

/**
 * Reads the tree under root (root itself is "."). xattrs: false for a merged overlay, which shows
 * its lowers' user.overlay.opaque (only trusted.overlay.* is hidden without userxattr).
 */
export function readTree(root: string, options: { xattrs?: boolean } = {}): Tree {
  const tree: Tree = new Map();
  const opaque = options.xattrs === false ? new Map<string, string[]>() : opaqueDirs(root);
  const visit = (rel: string) => {
    const path = rel === '.' ? root : join(root, rel);
    const st = lstatSync(path);
    let what: string;
    if (st.isDirectory()) what = 'dir';
    else if (st.isFile()) what = `file ${createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16)}`;
    else if (st.isSymbolicLink()) what = `symlink -> ${readlinkSync(path)}`;
    else if (st.isCharacterDevice()) what = st.rdev === 0 ? 'whiteout' : `char ${st.rdev}`;
    else what = 'other';
    const node: TreeNode = { what, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    const marks = opaque.get(rel);
    if (marks?.length === 2) node.opaque = true;
    else if (marks) node.halfOpaque = true;
    tree.set(rel, node);
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) visit(rel === '.' ? name : `${rel}/${name}`);
  };
  visit('.');
  return tree;
}

function dropBelow(tree: Tree, rel: string, andItself: boolean): void {
  for (const key of [...tree.keys()]) {
    if ((andItself && key === rel) || key.startsWith(rel === '.' ? '' : `${rel}/`)) if (key !== '.') tree.delete(key);
  }
}

/** Applies layer trees bottom first, as overlay shows them: the merged tree has no whiteouts or opaque marks. */
export function stackTrees(layers: Tree[]): Tree {
  const merged: Tree = new Map();
  for (const layer of layers) {
    // A layer's whiteouts and opaque marks hide only what lies below it.
    for (const [rel, node] of layer) {
      if (node.what === 'whiteout') dropBelow(merged, rel, true);
      else if (node.opaque) dropBelow(merged, rel, false);
    }
    for (const [rel, node] of layer) {
      if (node.what === 'whiteout') continue;
      if (node.what !== 'dir') dropBelow(merged, rel, false); // a file replaces a directory and all under it
      const { opaque: _o, halfOpaque: _h, ...plain } = node;
      merged.set(rel, plain);
    }
  }
  return merged;
}

/** One line per path, sorted: what a tree hash covers. */
export function treeLines(tree: Tree): string[] {
  return [...tree.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(
      ([rel, n]) =>
        `${rel} ${n.what} ${n.mode.toString(8)} ${n.uid}:${n.gid}${n.opaque ? ' opaque' : ''}${n.halfOpaque ? ' half-opaque' : ''}`,
    );
}

export function treeHash(tree: Tree): string {
  return createHash('sha256').update(treeLines(tree).join('\n')).digest('hex');
}
