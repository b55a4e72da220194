// A fuzz corpus for nagaya-extract, and the checks of one run, shared by the fuzz test (the real
// executable) and bench/extract-sanitized.ts (the same sources built with ASan and UBSan).
//
// A seeded PRNG makes archives of two kinds: valid archives with header fields and extension
// records mutated (checksums fixed up, so the mutation reaches the parser), and random sequences
// of hostile entries (symlinks out of the root, '..', hard links to host files, directories and
// symlinks, entries replacing entries, owners, modes and times at the edges, lying sizes,
// extension headers with no entry after). Each is run into a fresh root beside a canary
// directory the archives aim at, with few file descriptors, so a descriptor leaked per entry
// runs out within one archive.
import { spawnSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { snapshotTree, statLine } from './canary';
import { entryBlocks, paxRecords, rawTar, setChecksum, type RawEntry, type RawType } from './raw-tar';
import type { ExtractResult } from '../../src/extract-archive';

const BLOCK = 512;
const MAX_ID = 65535;
/** Enough for the extractor's peak (stdio, the root, a parent, a hard link's source, a walk's two). */
const OPEN_FILES = 16;
const CODES: Record<number, string> = { 1: 'INTERNAL', 2: 'INVALID_INPUT', 3: 'PAYLOAD_TOO_LARGE' };

/** The seed of the fuzz test's corpus ('naga'). */
export const FUZZ_SEED = 0x6e616761;

export interface FuzzLimits {
  maxBytes: number;
  maxEntries: number;
  maxDepth: number;
}
export interface FuzzCase {
  label: string;
  archive: Buffer;
  limits: FuzzLimits;
}

/** What one run of an extractor did. */
export interface FuzzRun {
  root: string;
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** A small PRNG (mulberry32): the same seed gives the same corpus on every machine. */
function prng(seed: number) {
  let s = seed >>> 0;
  const float = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(float() * n);
  return { int, chance: (p: number) => float() < p, pick: <T>(a: readonly T[]): T => a[int(a.length)] };
}
type Rng = ReturnType<typeof prng>;

// ---------------------------------------------------------------------------------------------
// The canary: host files an archive aims at, beside every root (root/../canary).

/** Makes dir/canary (a file and its hard link, a symlink, a directory with a secret, an empty directory). */
export function makeCanary(dir: string): string {
  const canary = join(dir, 'canary');
  mkdirSync(join(canary, 'dir'), { recursive: true, mode: 0o755 });
  mkdirSync(join(canary, 'empty'), { mode: 0o700 });
  writeFileSync(join(canary, 'file'), 'a host file\n', { mode: 0o644 });
  writeFileSync(join(canary, 'dir/secret'), 'a host secret\n', { mode: 0o600 });
  linkSync(join(canary, 'file'), join(canary, 'hard'));
  symlinkSync('file', join(canary, 'sym'));
  for (const p of ['dir/secret', 'file', 'dir', 'empty', '.']) utimesSync(join(canary, p), 1_000_000_000, 1_000_000_000);
  return canary;
}

/** The canary, /etc/shadow, and what sits beside the canary (each root is removed once checked). */
export function snapshotCanary(canary: string): Record<string, string> {
  return { ...snapshotTree(canary), '/etc/shadow': statLine('/etc/shadow'), beside: readdirSync(join(canary, '..')).sort().join(',') };
}

// ---------------------------------------------------------------------------------------------
// Values at the edges.

const long255 = 'x'.repeat(255);
/** Names entries share, so that they replace and link to each other. */
const NAMES = [
  'a',
  'a/b',
  'a/b/c',
  'b',
  'b/c',
  'c',
  './a',
  '/a',
  'a/',
  'a//b',
  'a/./b',
  'a/b/',
  '.nagaya-image.json',
  long255,
  `a/${long255}`,
  `${'d/'.repeat(12)}f`,
  'd/d/d/d/d/d/d',
  '\u00e9t\u00e9',
  'ctl\n\u0001',
  'sp ace',
  '/etc/passwd',
  'canary/file',
];
/** Names that are refused, or only take a directory (the root). */
const BAD_NAMES = ['.', './', '/', '', '..', '../a', '../canary/file', 'a/../b', 'a/..', `${long255}x`];
const TYPES: RawType[] = [
  'file',
  'file',
  'file',
  'directory',
  'directory',
  'symlink',
  'symlink',
  'link',
  'link',
  'char-device',
  'block-device',
  'fifo',
];
const ODD_TYPEFLAGS = ['\0', '7', 'x', 'g', 'L', 'K', 'V', 'S', 'D', 'M', 'N', 'A', '\u00ff'];
const IDS = [0, 0, 1, 1000, 65534, 65535];
const BAD_IDS = [65536, 2_097_151];
const BIG_IDS = [0, 65535, 65535, 65536, 2 ** 32 - 1, 2 ** 53];
const MODES = [0, 0o644, 0o755, 0o777, 0o7777, 0o4755, 0o2755, 0o1777, 0o170777, 0o7777777];
const MTIMES = [0, 1, 1_700_000_000, 0o77777777777];
const BODIES = ['', 'x', 'hello\n', 'y'.repeat(511), 'z'.repeat(512), 'w'.repeat(513), 'v'.repeat(3000)];
const ID_TEXT = ['0', '65535', '65536', '4294967295', '18446744073709551615', '18446744073709551616', '', '-1', '1e3', ' 5', '00065535'];
const PAX_VALUES: Record<string, string[]> = {
  uid: ID_TEXT,
  gid: ID_TEXT,
  mtime: [
    '0',
    '-1',
    '1.5',
    '-1.5',
    '9223372036854775807',
    '9223372036854775808',
    '-9223372036854775807',
    '-9223372036854775808',
    '1.0000000001',
    '.5',
    '1.',
    '-',
    '',
    'x',
    '1.5.5',
    '99999999999999999999',
    '1700000000.123456789123',
  ],
  size: ['0', '1', '511', '512', '513', '100000', '18446744073709551615', '18446744073709551616', 'x', ''],
  path: [...NAMES, ...BAD_NAMES, 'a\u0000b'],
  linkpath: [...NAMES, ...BAD_NAMES, 'a\u0000b', 'a/../../canary/file'],
};
const FIELDS: Record<string, [number, number]> = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  prefix: [345, 155],
};
const NUMERIC = ['mode', 'uid', 'gid', 'size', 'mtime', 'chksum'];

/** A path of components up to 255 bytes, around PATH_MAX (4095 bytes is the longest taken). */
function longPath(r: Rng): string {
  const target = r.pick([4000, 4094, 4095, 4096, 4200]);
  const parts: string[] = [];
  let len = 0;
  while (len < target) {
    const n = Math.min(r.pick([1, 100, 254, 255]), Math.max(1, target - len - 1));
    parts.push('p'.repeat(n));
    len += n + 1;
  }
  return parts.join('/').slice(0, target);
}

function paxFor(r: Rng): Record<string, string> {
  const pax: Record<string, string> = {};
  for (let i = r.int(3) + 1; i > 0; i--) {
    const key = r.pick([
      'path',
      'linkpath',
      'uid',
      'gid',
      'mtime',
      'size',
      'atime',
      'GNU.sparse.major',
      'SCHILY.xattr.security.capability',
      'comment',
    ]);
    if (key === 'path' || key === 'linkpath') pax[key] = r.chance(0.2) ? longPath(r) : r.pick(PAX_VALUES[key]);
    else pax[key] = r.pick(PAX_VALUES[key] ?? ['x', '', '\u00ff\u0000']);
  }
  return pax;
}

/** PAX data a writer would never make: lengths that lie, records without '=' or '\n', NULs. */
function malformedPax(r: Rng): Buffer {
  const good = paxRecords(paxFor(r)).toString('latin1');
  const options = [
    () => '99999999999999999999 path=a\n',
    () => '5 a=b\n',
    () => '0 \n',
    () => '12 path=abc',
    () => '8 path\n\n',
    () => ' 9 path=a\n',
    () => '10 path=\u0000\n',
    () => good.slice(0, r.int(good.length + 1)),
    () => good.replace(/^\d+/, (d) => String(Number(d) + r.pick([-2, -1, 1, 2]))),
    () => `${'9'.repeat(r.int(8) + 1)} mtime=1\n${good}`,
  ];
  return Buffer.from(r.pick(options)(), 'latin1');
}

function numericValue(r: Rng, width: number): Buffer {
  const b = Buffer.alloc(width);
  const options = [
    () => b.fill('7', 0, width - 1),
    () => b.fill('7'),
    () => b.fill(' '),
    () => b,
    () => {
      b.fill('0');
      b[width - 1] = 0x38;
      return b;
    },
    () => Buffer.from(' 12 34  \0\0\0\0'.slice(0, width).padEnd(width, '\0'), 'latin1'),
    () => Buffer.from(`\0${'1'.repeat(width - 1)}`, 'latin1'),
    () => Buffer.from('-1'.padEnd(width, '\0'), 'latin1'),
    () => {
      b[0] = 0x80;
      b[width - 1] = r.int(256);
      return b;
    },
    () => b.fill(0xff),
    () => {
      b.fill(0xff);
      b[0] = 0x80;
      return b;
    },
    () => {
      b.fill(0xff);
      b[0] = 0xbf;
      return b;
    },
    () => {
      b[0] = 0xc0;
      b[width - 1] = 1;
      return b;
    },
    () => {
      b[0] = 0x80;
      b.fill(0xff, width - 8);
      b[width - 8] = 0x7f;
      return b;
    },
    () => {
      b.fill(0xff, width - 8);
      b[0] = 0x80;
      return b;
    }, // 2^64 - 1 in a size field: wraps when padded
    () => {
      for (let i = 0; i < width; i++) b[i] = r.int(256);
      return b;
    },
    () =>
      Buffer.from(
        `${r
          .pick([65535, 65536, 0o7777, 0o170777])
          .toString(8)
          .padStart(width - 1, '0')
          .slice(0, width - 1)}\0`,
        'latin1',
      ),
  ];
  return Buffer.from(r.pick(options)());
}

/** Offsets of the header blocks, following the size fields as a reader would. */
function headerOffsets(archive: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + BLOCK <= archive.length; ) {
    const h = archive.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) break;
    out.push(at);
    const f = h.subarray(124, 136);
    let size = 0n;
    if (f[0] & 0x80) for (const [i, b] of f.entries()) size = (size << 8n) | BigInt(i === 0 ? b & 0x7f : b);
    else
      size = BigInt(
        Number.parseInt(
          f
            .toString('latin1')
            .replace(/[\0 ].*$/s, '')
            .trim() || '0',
          8,
        ) || 0,
      );
    if (!'0\u00007xgLKV'.includes(String.fromCharCode(h[156]))) size = 0n;
    at += BLOCK + Number((size + 511n) / 512n) * BLOCK;
    if (!Number.isSafeInteger(at)) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The corpus.

/** The corpus of a seed: `hostile` entry sequences, then `mutated` valid archives. */
export function fuzzCorpus(options: { seed: number; hostile: number; mutated: number; canary: string }): FuzzCase[] {
  const r = prng(options.seed);
  const { canary } = options;
  const canaryLinks = [
    canary,
    `${canary}/file`,
    `${canary}/dir`,
    `${canary}/dir/secret`,
    `${canary}/hard`,
    `${canary}/sym`,
    `${canary}/empty`,
  ];
  const links = [
    ...NAMES,
    ...BAD_NAMES,
    ...canaryLinks,
    '../canary',
    '../canary/file',
    '../canary/dir',
    '../../..',
    '/etc',
    '/etc/shadow',
    'a/../../canary/file',
  ];
  const name = () => (r.chance(0.04) ? r.pick(BAD_NAMES) : r.pick(NAMES));
  const id = () => (r.chance(0.02) ? r.pick(BAD_IDS) : r.pick(IDS));

  /** An entry; a hard link mostly to one of the names written before it. */
  const hostileEntry = (written: string[] = []): RawEntry => {
    const type = r.pick(TYPES);
    const e: RawEntry = { name: name(), type, mode: r.pick(MODES), uid: id(), gid: id(), mtime: r.pick(MTIMES) };
    if (type === 'file') e.body = r.pick(BODIES);
    if (type === 'symlink') e.linkname = r.pick(links);
    if (type === 'link') e.linkname = written.length && r.chance(0.7) ? r.pick(written) : r.pick(links);
    if (type === 'char-device' || type === 'block-device') Object.assign(e, { devmajor: r.int(300), devminor: r.int(300) });
    if (r.chance(0.03)) e.typeflag = r.pick(ODD_TYPEFLAGS);
    if (e.typeflag === 'x' || e.typeflag === 'g') e.body = r.chance(0.5) ? malformedPax(r) : paxRecords(paxFor(r));
    if (e.typeflag === 'L' || e.typeflag === 'K') e.body = r.chance(0.5) ? `${name()}\0` : r.pick([longPath(r), '', 'a\0b']);
    if (r.chance(0.06)) e.pax = paxFor(r);
    if (e.name.length > 100 || r.chance(0.08)) {
      const how = r.int(3);
      if (how === 0) e.gnuLongName = true;
      else if (how === 1) e.pax = { ...e.pax, path: e.name };
      else if (e.name.includes('/'))
        [e.prefix, e.name] = [e.name.slice(0, e.name.lastIndexOf('/')), e.name.slice(e.name.lastIndexOf('/') + 1)];
    }
    if (r.chance(0.03)) [e.gnuLongName, e.name] = [true, longPath(r)];
    if ((e.linkname?.length ?? 0) > 100 || r.chance(0.03)) {
      if (r.chance(0.5)) e.gnuLongLink = true;
      else e.pax = { ...e.pax, linkpath: r.chance(0.5) ? longPath(r) : (e.linkname ?? '') };
    }
    if (r.chance(0.05)) e.base256 = [r.pick(['uid', 'gid', 'size'] as const)];
    for (const key of e.base256 ?? []) if (key !== 'size') e[key] = r.pick(BIG_IDS);
    if (r.chance(0.03)) e.sizeField = r.pick([0, 1, 511, 512, 513, 100_000]);
    return e;
  };

  /** Interactions worth more than their chance in a random sequence. */
  const scenarios: Array<() => RawEntry[]> = [
    // A directory's mode is applied at the end: by then a symlink to a host directory stands there.
    () => [
      { name: 'a/', type: 'directory', mode: r.pick([0o7777, 0o777, 0]), uid: id() },
      { name: 'a', type: 'symlink', linkname: r.pick(canaryLinks) },
    ],
    () => [
      { name: 'a/b/', type: 'directory', mode: 0o777, uid: 5 },
      { name: 'a/b/f', body: 'x' },
      { name: 'a/b/f', type: 'link', linkname: r.pick(canaryLinks) },
    ],
    // A hard link to a symlink to a host file, then writes through either name.
    () => [
      { name: 's', type: 'symlink', linkname: r.pick(canaryLinks) },
      { name: 'h', type: 'link', linkname: 's' },
      { name: r.pick(['h', 's', 'h/x', 's/x']), body: 'through?', mode: 0o666 },
      { name: 'h', type: 'directory', mode: 0o777 },
    ],
    // A hard link to a file later replaced, then a link to the link.
    () => [
      { name: 'f', body: 'one' },
      { name: 'g', type: 'link', linkname: 'f' },
      r.pick<RawEntry>([
        { name: 'f', type: 'symlink', linkname: `${canary}/file` },
        { name: 'f', body: 'two' },
        { name: 'f/', type: 'directory' },
      ]),
      { name: 'h', type: 'link', linkname: r.pick(['f', 'g', './g', '/f']) },
    ],
    // Hard links to the root, a directory, themselves; '..' in a PAX linkpath.
    () => [
      { name: 'd/', type: 'directory' },
      { name: r.pick(['x', 'd/x']), type: 'link', linkname: r.pick(['.', './', '/', 'd', 'd/', 'x', 'd/x', 'd/..', '']) },
    ],
    () => [
      { name: 'f', body: 'x' },
      { name: 'l', type: 'link', linkname: 'f', pax: { linkpath: r.pick(['f/../../canary/file', './f/.', 'f/', '/../f', 'f//']) } },
    ],
    // A symlink to '.', then paths through it.
    () => [
      { name: 'a', type: 'symlink', linkname: r.pick(['.', '..', '/', '../canary']) },
      {
        name: r.pick(['a/a/f', 'a/f', 'a/', 'a/canary/file']),
        type: r.pick<RawType>(['file', 'directory', 'link', 'symlink']),
        linkname: 'a',
        body: 'x',
      },
    ],
    // Trailing slashes and pre-POSIX directories.
    () => [
      { name: r.pick(['f/', 'f//', 'f/.']), typeflag: r.pick(['0', '\0', '7', '5']), body: 'x' },
      { name: 'f/g', body: 'y' },
    ],
    // Replacing: a file where a non-empty directory stands, a directory where a file stands.
    () => [
      { name: 'a/b', body: 'x' },
      { name: 'a', type: r.pick<RawType>(['file', 'symlink', 'link', 'fifo']), linkname: 'a/b' },
      { name: 'a/c', body: 'y' },
    ],
    // The root entry with extreme owner and mode, then the root as other kinds.
    () => [
      { name: r.pick(['./', '/', '.', '']), type: 'directory', mode: r.pick(MODES), uid: id(), gid: id() },
      { name: r.pick(['.', './', '/']), type: r.pick(TYPES), linkname: 'x' },
    ],
    // Extension headers and no entry after them.
    () => [
      { name: 'f', body: 'x' },
      { name: 'PaxHeader', typeflag: r.pick(['x', 'L', 'K']), body: r.pick(['11 path=a\n', 'a\0']) },
    ],
    // A depth at the limit and one past it (the limit is 6 for these).
    () => [
      { name: `${'d/'.repeat(r.pick([4, 5, 6]))}f`, body: 'deep' },
      { name: `${'e/'.repeat(r.pick([5, 6]))}`, type: 'directory' },
    ],
  ];
  const DEPTH_SCENARIO = scenarios.length - 1;

  const limitsFor = (archive: Buffer, depthScenario: boolean): FuzzLimits => {
    if (depthScenario) return { maxBytes: 1 << 24, maxEntries: 1000, maxDepth: 6 };
    if (r.chance(0.8)) return { maxBytes: 1 << 24, maxEntries: 1000, maxDepth: 32 };
    return { maxBytes: Math.max(1, r.int(archive.length * 1.5)), maxEntries: r.int(10) + 1, maxDepth: r.int(6) + 1 };
  };

  const hostileCase = (i: number): FuzzCase => {
    const entries: RawEntry[] = [];
    const scenario = r.chance(0.35) ? r.int(scenarios.length) : -1;
    if (scenario >= 0) entries.push(...scenarios[scenario]());
    if (r.chance(0.2)) entries.unshift({ name: './', type: 'directory', mode: r.pick(MODES) });
    // Mostly short, so that many run to the end; some long enough to run out of leaked descriptors.
    for (let n = scenario >= 0 ? r.int(3) : r.chance(0.3) ? r.int(30) + 1 : r.int(8) + 1; n > 0; n--) {
      entries.splice(r.int(entries.length + 1), 0, hostileEntry(entries.map((e) => e.pax?.path ?? e.name)));
    }
    const archive = rawTar(entries, { end: r.chance(0.9) });
    return {
      label: `hostile #${i}${scenario >= 0 ? ` (scenario ${scenario})` : ''}`,
      archive,
      limits: limitsFor(archive, scenario === DEPTH_SCENARIO),
    };
  };

  const stringValue = (width: number): Buffer => {
    const text = r.pick([...NAMES, ...BAD_NAMES, ...canaryLinks, 'ustar', 'ustar\0', 'ustar  ', '00', '\0\0', 'x'.repeat(width)]);
    const b = Buffer.alloc(width);
    Buffer.from(text, 'latin1').copy(b);
    if (r.chance(0.2)) b[r.int(width)] = r.pick([0, 0x2f, 0x2e, 0xff]);
    return b;
  };

  const seedArchive = (): Buffer => {
    const entries: RawEntry[] = [{ name: './', type: 'directory' }];
    const files: string[] = [];
    for (let n = r.int(12) + 2; n > 0; n--) {
      const dir = r.pick(['', 'etc/', 'usr/bin/', `${'q'.repeat(90)}/${'r'.repeat(90)}/`]);
      const name = `${dir}${r.pick(['a', 'b', 'c', 'sh', long255.slice(0, 120)])}${n}`;
      const kind = r.int(files.length ? 5 : 3);
      const e: RawEntry =
        kind === 0
          ? { name: `${dir}d${n}/`, type: 'directory', mode: 0o755 }
          : kind <= 2
            ? { name, body: r.pick(BODIES), mode: r.pick([0o644, 0o755, 0o4755]), uid: r.int(3) * 1000 }
            : kind === 3
              ? { name, type: 'symlink', linkname: r.pick(['/bin/busybox', '../lib', ...files]) }
              : { name, type: 'link', linkname: r.pick(files) };
      if (e.type === undefined) files.push(name);
      const style = r.int(5);
      if (style === 1 || e.name.length > 100 || (e.linkname?.length ?? 0) > 100) {
        e.pax = { path: e.name, mtime: '1700000000.5', ...(e.linkname ? { linkpath: e.linkname } : {}) };
      } else if (style === 2) [e.gnuLongName, e.base256] = [true, ['size', 'uid']];
      else if (style === 3 && e.name.includes('/'))
        [e.prefix, e.name] = [e.name.slice(0, e.name.lastIndexOf('/')), e.name.slice(e.name.lastIndexOf('/') + 1)];
      entries.push(e);
    }
    return rawTar(entries);
  };

  const mutate = (archive: Buffer): Buffer => {
    const out = Buffer.from(archive);
    const headers = headerOffsets(out);
    const at = headers.length ? r.pick(headers) : 0;
    const blocks = Math.ceil(out.length / BLOCK);
    switch (r.int(8)) {
      case 0:
      case 1:
      case 2: {
        // one header field, the checksum fixed up (mostly)
        const field = r.pick(Object.keys(FIELDS));
        const [offset, width] = FIELDS[field];
        if (at + BLOCK > out.length) return out;
        const value =
          field === 'typeflag'
            ? Buffer.from(r.pick([...ODD_TYPEFLAGS, '0', '1', '2', '3', '5', '6']), 'latin1')
            : NUMERIC.includes(field)
              ? numericValue(r, width)
              : stringValue(width);
        value.copy(out, at + offset, 0, width);
        if (field !== 'chksum' && r.chance(0.9)) setChecksum(out.subarray(at, at + BLOCK));
        return out;
      }
      case 3: {
        // the data after a header: an extension's records, a long name, a file's content
        const data = at + BLOCK;
        for (let n = r.int(4) + 1; n > 0 && data < out.length; n--) {
          out[data + r.int(Math.min(BLOCK, out.length - data))] = r.pick([0, 0x0a, 0x20, 0x3d, 0x30, 0x39, 0x2e, 0x2f, r.int(256)]);
        }
        return out;
      }
      case 4: // cut short, on or off a block boundary
        return out.subarray(0, r.chance(0.5) ? r.int(blocks) * BLOCK : r.int(out.length));
      case 5: {
        // a block range repeated elsewhere
        const from = r.int(blocks),
          to = r.int(blocks);
        const piece = out.subarray(from * BLOCK, (from + r.int(4) + 1) * BLOCK);
        return Buffer.concat([out.subarray(0, to * BLOCK), piece, out.subarray(to * BLOCK)]);
      }
      case 6: {
        // a block range removed
        const from = r.int(blocks);
        return Buffer.concat([out.subarray(0, from * BLOCK), out.subarray((from + r.int(3) + 1) * BLOCK)]);
      }
      default: // a hostile entry spliced in at a header
        return Buffer.concat([out.subarray(0, at), entryBlocks(hostileEntry()), out.subarray(at)]);
    }
  };

  const mutatedCase = (i: number): FuzzCase => {
    let archive = seedArchive();
    for (let n = r.int(3) + 1; n > 0; n--) archive = mutate(archive);
    return { label: `mutated #${i}`, archive, limits: limitsFor(archive, false) };
  };

  const cases: FuzzCase[] = [];
  for (let i = 0; i < options.hostile; i++) cases.push(hostileCase(i));
  for (let i = 0; i < options.mutated; i++) cases.push(mutatedCase(i));
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Running and checking.

/** Runs binary on the case into root (made here, 0700 as extractArchive makes it). */
export function runExtractor(binary: string, root: string, c: FuzzCase, env: Record<string, string> = {}): FuzzRun {
  mkdirSync(root, { mode: 0o700 });
  const args = [
    root,
    '--max-bytes',
    String(c.limits.maxBytes),
    '--max-entries',
    String(c.limits.maxEntries),
    '--max-depth',
    String(c.limits.maxDepth),
  ];
  const result = spawnSync('/bin/sh', ['-c', `ulimit -n ${OPEN_FILES} && exec "$@"`, 'sh', binary, ...args], {
    input: c.archive,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  // The extractor stops reading at the first bad header: the rest of stdin then meets a closed pipe.
  if (result.error && (result.error as NodeJS.ErrnoException).code !== 'EPIPE') throw result.error;
  return {
    root,
    status: result.status,
    signal: result.signal,
    stdout: result.stdout.toString('utf8'),
    stderr: result.stderr.toString('utf8'),
  };
}

/** The report's counts (skipped entries are compared by their total). */
type Totals = Omit<ExtractResult, 'skipped'>;

/** What is wrong in the root after a run: owners, kinds, depth, links leaving it, bytes, and more
 * names than the entry limit (which counts implied directories too). Names are bytes (an
 * archive's need not be UTF-8); every path fits PATH_MAX with the root's own. */
function treeProblems(c: FuzzCase, root: string, fileBytes: number | undefined): string[] {
  const problems: string[] = [];
  const files = new Map<bigint, { nlink: bigint; seen: bigint; size: bigint; path: string }>();
  let bytes = 0n;
  let names = -1; // the root is none
  const visit = (path: Buffer, depth: number) => {
    names++;
    const st = lstatSync(path, { bigint: true });
    const rel = path.subarray(root.length + 1);
    const shown = depth ? JSON.stringify(rel.toString()) : 'the root';
    if (st.uid > MAX_ID || st.gid > MAX_ID) problems.push(`${shown} is owned by ${st.uid}:${st.gid}`);
    if (!st.isFile() && !st.isDirectory() && !st.isSymbolicLink()) problems.push(`${shown} is of type ${(st.mode >> 12n).toString(8)}`);
    if (depth > c.limits.maxDepth) problems.push(`${shown} is deeper than ${c.limits.maxDepth}`);
    if (depth === 0 && !st.isDirectory()) problems.push('the root is no longer a directory');
    if (st.isFile()) {
      const file = files.get(st.ino) ?? { nlink: st.nlink, seen: 0n, size: st.size, path: shown };
      if (file.seen++ === 0n) bytes += file.size;
      files.set(st.ino, file);
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(path, { encoding: 'buffer' })) visit(Buffer.concat([path, Buffer.from('/'), name]), depth + 1);
    }
  };
  visit(Buffer.from(root), 0);
  for (const file of files.values()) {
    if (file.seen !== file.nlink) problems.push(`${file.path} has ${file.nlink} links, ${file.seen} of them in the root`);
  }
  if (fileBytes !== undefined && bytes > BigInt(fileBytes)) problems.push(`${bytes} file bytes on disk, ${fileBytes} reported`);
  if (names > c.limits.maxEntries) problems.push(`${names} names in the root, the entry limit is ${c.limits.maxEntries}`);
  return problems;
}

/** Checks one run (exit, report, tree) and removes its root; returns the report line and the problems. */
export function checkRun(c: FuzzCase, run: FuzzRun): { report: string; problems: string[] } {
  const problems: string[] = [];
  if (run.signal !== null) problems.push(`killed by ${run.signal}`);
  if (run.stderr !== '') problems.push(`stderr: ${run.stderr.slice(0, 4000)}`);
  if (run.status === null || !(run.status in CODES || run.status === 0) || run.status === 1) problems.push(`exit status ${run.status}`);
  const lines = run.stdout.split('\n');
  const report = lines[0];
  if (lines.length !== 2 || lines[1] !== '') problems.push(`not one line: ${JSON.stringify(run.stdout.slice(0, 500))}`);
  let parsed: (Totals & { error?: { code: string } }) | undefined;
  try {
    parsed = JSON.parse(report) as Totals & { error?: { code: string } };
  } catch {
    problems.push(`not JSON: ${JSON.stringify(report.slice(0, 500))}`);
  }
  if (parsed && run.status === 0) {
    const t = parsed;
    if (t.entries > c.limits.maxEntries) problems.push(`${t.entries} entries, the limit is ${c.limits.maxEntries}`);
    if (t.entries !== t.files + t.directories + t.symlinks + t.hardlinks + t.skippedTotal) problems.push('entries not counted once each');
    if (t.inputBytes !== c.archive.length) problems.push(`read ${t.inputBytes} of ${c.archive.length} bytes`);
    if (t.inputBytes > c.limits.maxBytes) problems.push(`${t.inputBytes} input bytes, the limit is ${c.limits.maxBytes}`);
    if (t.fileBytes > t.inputBytes) problems.push(`${t.fileBytes} file bytes from ${t.inputBytes} input bytes`);
  } else if (parsed && parsed.error?.code !== CODES[run.status ?? 0]) {
    problems.push(`exit ${run.status} with ${report}`);
  }
  problems.push(...treeProblems(c, run.root, run.status === 0 ? parsed?.fileBytes : undefined));
  rmSync(run.root, { recursive: true, force: true });
  return { report, problems: problems.map((p) => `${c.label}: ${p}`) };
}
