// The sample image of the import tests (three layers: gzip, zstd and plain; a whiteout of a file
// and of a directory, an opaque directory listed after its own entry, setuid and setgid files,
// names brought back over whiteouts) and the tree a container must see of it, with the helpers
// the import tests share: a fresh store per test, an import from a buffer, a refusal check.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'vitest';

import { importImage, NativeError } from '@nagaya/native';
import { buildImage, type FixtureLayer, layerOf, sha256 } from './oci-fixtures';
import { type Tree, treeLines } from './layer-trees';
import type { RawEntry } from './raw-tar';

export const LIMITS = { maxBytes: 64 * 1024 * 1024, maxEntries: 10_000, maxDepth: 64 };
export const OPTIONS = { maxArchiveBytes: 256 * 1024 * 1024, layerLimits: LIMITS };

/** Stores under work, one per call, and imports of a whole archive held in memory. */
export function storeMaker(work: string) {
  let stores = 0;
  return {
    freshStore: () => join(work, `store-${stores++}`),
    importBuffer: (archive: Buffer, store: string) => importImage(Readable.from([archive]), store, OPTIONS),
  };
}

export const d = (name: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, type: 'directory', mode: 0o755, ...extra });
export const f = (name: string, body: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, body, mode: 0o644, ...extra });

/** Layer 1: a base. Layer 2: a whiteout of a file and of a directory, an opaque directory listed after its own entry, a setgid file of uid 1000. Layer 3: names brought back over whiteouts, a whiteout beside its own name. */
export const BASE = [
  d('bin/'),
  f('bin/sh', 'shell', { mode: 0o755 }),
  f('bin/su', 'su', { mode: 0o4755 }),
  d('etc/'),
  f('etc/passwd', 'root:x:0:0'),
  f('etc/hostname', 'one'),
  d('usr/share/doc/'),
  f('usr/share/doc/a.txt', 'a'),
  f('usr/share/doc/b.txt', 'b'),
  d('opt/keep/'),
  f('opt/keep/x', 'x'),
  d('var/old/'),
  f('var/old/file', 'old'),
];
export const MIDDLE = [
  f('etc/.wh.hostname', ''),
  d('usr/share/doc/'),
  f('usr/share/doc/c.txt', 'c'),
  f('usr/share/doc/.wh..wh..opq', ''),
  f('bin/passwd', 'passwd', { mode: 0o2755, uid: 1000, gid: 1000 }),
  f('var/.wh.old', ''),
];
export const TOP = [
  f('etc/hostname', 'three'),
  f('opt/keep/.wh.x', ''),
  f('opt/keep/y', 'y'),
  f('opt/.wh.same', ''),
  f('opt/same', 'own entry wins'),
  d('var/old/'),
  f('var/old/new', 'new'),
];
export const LAYERS: FixtureLayer[] = [layerOf(BASE, 'gzip'), layerOf(MIDDLE, 'zstd'), layerOf(TOP, 'none')];
export const RUN = { Entrypoint: ['/bin/sh'], Cmd: ['-c', 'true'], Env: ['PATH=/bin', 'A=1'], WorkingDir: '/opt', User: '1000:1000' };

/** What a container sees: the stacked tree, by hand. */
export const EXPECTED_STACK = [
  '. dir 755 0:0',
  'bin dir 755 0:0',
  `bin/passwd file ${short('passwd')} 2755 1000:1000`,
  `bin/sh file ${short('shell')} 755 0:0`,
  `bin/su file ${short('su')} 4755 0:0`,
  'etc dir 755 0:0',
  `etc/hostname file ${short('three')} 644 0:0`,
  `etc/passwd file ${short('root:x:0:0')} 644 0:0`,
  'opt dir 755 0:0',
  'opt/keep dir 755 0:0',
  `opt/keep/y file ${short('y')} 644 0:0`,
  `opt/same file ${short('own entry wins')} 644 0:0`,
  'usr dir 755 0:0',
  'usr/share dir 755 0:0',
  'usr/share/doc dir 755 0:0',
  `usr/share/doc/c.txt file ${short('c')} 644 0:0`,
  'var dir 755 0:0',
  'var/old dir 755 0:0',
  `var/old/new file ${short('new')} 644 0:0`,
];
export function short(body: string): string {
  return sha256(body).slice('sha256:'.length, 'sha256:'.length + 16);
}
export const lineOf = (tree: Tree, rel: string) =>
  treeLines(new Map([[rel, tree.get(rel) ?? { what: 'missing', mode: 0, uid: 0, gid: 0 }]]))[0];

export function storeLeftovers(store: string): string[] {
  const layers = existsSync(join(store, 'layers/sha256')) ? readdirSync(join(store, 'layers/sha256')) : [];
  const staging = existsSync(join(store, 'staging')) ? readdirSync(join(store, 'staging')) : [];
  return [...layers.map((n) => `layers/${n}`), ...staging.map((n) => `staging/${n}`)];
}

export async function refused(
  importBuffer: (a: Buffer, s: string) => Promise<unknown>,
  archive: Buffer,
  store: string,
  message: RegExp,
): Promise<NativeError> {
  const err = await importBuffer(archive, store).then(
    () => {
      throw new Error('imported an archive that should have been refused');
    },
    (e: unknown) => e as NativeError,
  );
  expect(err).toBeInstanceOf(NativeError);
  expect({ code: err.code, message: err.message }).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(message) });
  return err;
}

export const image = buildImage(LAYERS, RUN);
