// nagaya-extract on tricky and malformed headers, through extractArchive (the real executable,
// real files): what it writes, what it refuses, and that a refusal leaves no directory behind.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';

import { extractArchive, NativeError, type ExtractLimits } from '@nagaya/native';
import { entryBlocks, rawTar, setChecksum, type RawEntry } from './support/raw-tar';

const work = mkdtempSync(join(tmpdir(), 'nagaya-extract-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** statfs(2)'s f_type of ext4 (and ext2/3). */
const EXT4_SUPER_MAGIC = 0xef53;
const LIMITS: ExtractLimits = { maxBytes: 64 * 1024 * 1024, maxEntries: 1000, maxDepth: 32 };
let n = 0;
const freshDest = () => join(work, `out-${n++}`);

async function extract(archive: Buffer, limits: Partial<ExtractLimits> = {}) {
  const dest = freshDest();
  const result = await extractArchive(Readable.from([archive]), dest, { ...LIMITS, ...limits });
  return { dest, result };
}

/** Expects a refusal with the code, and no destination directory left. */
async function refused(archive: Buffer, code: string, limits: Partial<ExtractLimits> = {}): Promise<NativeError> {
  const dest = freshDest();
  const err = await extractArchive(Readable.from([archive]), dest, { ...LIMITS, ...limits }).then(
    () => {
      throw new Error('extracted an archive that should have been refused');
    },
    (e: unknown) => e as NativeError,
  );
  expect(err).toBeInstanceOf(NativeError);
  expect({ code: err.code, message: err.message }).toMatchObject({ code });
  expect(existsSync(dest)).toBe(false);
  return err;
}

describe('headers', () => {
  it('joins the ustar prefix to the name', async () => {
    const { dest } = await extract(rawTar([{ name: 'f', prefix: 'usr/share/doc', body: 'in the prefix' }]));
    expect(readFileSync(join(dest, 'usr/share/doc/f'), 'utf8')).toBe('in the prefix');
  });

  it('takes path, linkpath, uid, gid and mtime from a PAX header over the ustar fields', async () => {
    const deep = `${'d'.repeat(200)}/${'e'.repeat(200)}/file`;
    const { dest } = await extract(
      rawTar([
        { name: 'ignored', pax: { path: deep, uid: '1000', gid: '1001', mtime: '1600000000.25' }, body: 'pax', uid: 5, gid: 5 },
        { name: 'ignored-link', type: 'symlink', linkname: 'x', pax: { linkpath: `/${'t'.repeat(300)}` } },
      ]),
    );
    const st = statSync(join(dest, deep));
    expect(readFileSync(join(dest, deep), 'utf8')).toBe('pax');
    expect([st.uid, st.gid, st.mtimeMs]).toEqual([1000, 1001, 1_600_000_000_250]);
    expect(readlinkSync(join(dest, 'ignored-link'))).toBe(`/${'t'.repeat(300)}`);
    expect(existsSync(join(dest, 'ignored'))).toBe(false);
  });

  it('takes a PAX size over the header size field', async () => {
    const { dest } = await extract(rawTar([{ name: 'sized', body: 'twelve bytes', sizeField: 3, pax: { size: '12' } }]));
    expect(readFileSync(join(dest, 'sized'), 'utf8')).toBe('twelve bytes');
  });

  it('reads GNU long names and long link names, and base-256 numbers', async () => {
    const long = `${'g'.repeat(120)}/${'h'.repeat(120)}`;
    const { dest } = await extract(
      rawTar([
        { name: long, gnuLongName: true, body: 'gnu', uid: 65535, gid: 4242, base256: ['uid', 'gid', 'size'] },
        { name: 'l', type: 'symlink', linkname: `../${'k'.repeat(150)}`, gnuLongLink: true },
      ]),
    );
    const st = statSync(join(dest, long));
    expect([readFileSync(join(dest, long), 'utf8'), st.uid, st.gid]).toEqual(['gnu', 65535, 4242]);
    expect(readlinkSync(join(dest, 'l'))).toBe(`../${'k'.repeat(150)}`);
  });

  it('refuses a truncated archive, a wrong checksum, garbage, bad gzip and an unknown entry type', async () => {
    const whole = rawTar([
      { name: 'a', body: Buffer.alloc(5000, 1) },
      { name: 'b', body: 'b' },
    ]);
    expect((await refused(whole.subarray(0, 2048), 'INVALID_INPUT')).message).toMatch(/truncated/);
    expect((await refused(rawTar([{ name: 'a', body: 'a', badChecksum: true }]), 'INVALID_INPUT')).message).toMatch(/checksum/);
    await refused(Buffer.from('definitely not a tarball '.repeat(100)), 'INVALID_INPUT');
    expect((await refused(Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(600, 7)]), 'INVALID_INPUT')).message).toMatch(/gzip/);
    expect((await refused(gzipSync(whole).subarray(0, 40), 'INVALID_INPUT')).message).toMatch(/gzip/);
    const sparse = rawTar([{ name: 's', body: 's', typeflag: 'S' }]);
    expect((await refused(sparse, 'INVALID_INPUT')).message).toMatch(/unsupported entry type 'S'/);
    await refused(rawTar([{ name: 'x', pax: { 'GNU.sparse.major': '1' }, body: 'x' }]), 'INVALID_INPUT');
  });

  it('skips the data of a global header or volume label of any size, never reading it as headers', async () => {
    for (const typeflag of ['g', 'V']) {
      // A size of 2^64 - 1 in base-256: with its padding to the next block it wrapped to 0, so
      // the data was not skipped and the next entry was read where no other tar reader looks.
      const ext = entryBlocks({ name: 'ext', typeflag });
      Buffer.from([0x80, 0, 0, 0, ...Array(8).fill(0xff)]).copy(ext, 124);
      setChecksum(ext);
      const smuggled = rawTar([{ name: 'smuggled', body: 'only this extractor sees me' }]);
      expect((await refused(Buffer.concat([ext, smuggled]), 'INVALID_INPUT')).message).toMatch(/truncated/);
    }
  });

  it('reads a base-256 number with its sign bit (0x40 of the first byte) set as negative, and refuses it', async () => {
    // Before: 0xc0 00 00 00 00 00 01 ed was a mode of 0755 (bit 62 masked away), where Go reads
    // a negative number and GNU tar refuses the field.
    const header = entryBlocks({ name: 'f', body: '' });
    Buffer.from([0xc0, 0, 0, 0, 0, 0, 0x01, 0xed]).copy(header, 100);
    setChecksum(header);
    expect((await refused(Buffer.concat([header, Buffer.alloc(1024)]), 'INVALID_INPUT')).message).toMatch(/negative mode/);
  });

  it('refuses an archive that ends after an extended header', async () => {
    const ext = rawTar([{ name: 'x', pax: { path: 'y' }, body: 'x' }]).subarray(0, 1024);
    await refused(Buffer.concat([ext, Buffer.alloc(1024)]), 'INVALID_INPUT');
  });
});

describe('paths', () => {
  it("drops leading '/' and './', and refuses '..' anywhere (PAX and GNU names too)", async () => {
    const { dest } = await extract(
      rawTar([
        { name: '/abs/file', body: 'a' },
        { name: './dot/./file', body: 'b' },
      ]),
    );
    expect(readFileSync(join(dest, 'abs/file'), 'utf8')).toBe('a');
    expect(readFileSync(join(dest, 'dot/file'), 'utf8')).toBe('b');
    for (const entry of [
      { name: '../x', body: 'x' },
      { name: 'a/../../x', body: 'x' },
      { name: 'ok', pax: { path: 'a/../../x' }, body: 'x' },
      { name: `${'q'.repeat(110)}/../../x`, gnuLongName: true, body: 'x' },
    ] satisfies RawEntry[]) {
      expect((await refused(rawTar([entry]), 'INVALID_INPUT')).message).toMatch(/'\.\.'/);
    }
  });

  it('refuses paths deeper than the limit, longer than PATH_MAX, and names longer than NAME_MAX', async () => {
    await extract(rawTar([{ name: 'a/b/c/d', body: 'x' }]), { maxDepth: 4 });
    expect((await refused(rawTar([{ name: 'a/b/c/d/e', body: 'x' }]), 'INVALID_INPUT', { maxDepth: 4 })).message).toMatch(/deeper than 4/);
    await refused(rawTar([{ name: 'x', pax: { path: 'n'.repeat(256) }, body: 'x' }]), 'INVALID_INPUT');
    const long = Array.from({ length: 17 }, () => 'p'.repeat(240)).join('/'); // 4096 bytes
    expect((await refused(rawTar([{ name: 'x', pax: { path: long }, body: 'x' }]), 'INVALID_INPUT')).message).toMatch(
      /longer than 4095 bytes/,
    );
    expect((await refused(rawTar([{ name: long, gnuLongName: true, body: 'x' }]), 'INVALID_INPUT')).message).toMatch(
      /GNU long name is larger than/,
    );
  });

  it("refuses a path that would pass PATH_MAX with the destination's own path, so a refused archive is still removed", async () => {
    const dest = freshDest();
    const room = 4095 - dest.length - 1;
    const path = (bytes: number) => `${Array.from({ length: 16 }, () => 'p'.repeat(240)).join('/')}/${'f'.repeat(255)}`.slice(0, bytes);
    const fits = rawTar([{ name: 'x', pax: { path: path(room) }, body: 'fits' }]);
    await extractArchive(Readable.from([fits]), dest, LIMITS);
    expect(readFileSync(join(dest, path(room)), 'utf8')).toBe('fits');
    rmSync(dest, { recursive: true });
    const over = rawTar([{ name: 'x', pax: { path: path(room + 1) }, body: 'x' }]);
    expect((await refused(over, 'INVALID_INPUT')).message).toMatch(
      /longer than \d+ bytes \(PATH_MAX less the image directory's own path\)/,
    );
    // Before: the extractor wrote the first entry, its refusal of the second left a tree that
    // rm could not remove (ENAMETOOLONG), and that error, not INVALID_INPUT, reached the caller.
    const longThenBad = rawTar([
      { name: 'x', pax: { path: path(4000) }, body: 'x' },
      { name: '../x', body: 'x' },
    ]);
    await refused(longThenBad, 'INVALID_INPUT');
  });

  it('never writes through a symlink an earlier entry made, and replaces a symlink rather than following it', async () => {
    const outside = mkdtempSync(join(work, 'outside-'));
    writeFileSync(join(outside, 'keep'), 'outside');
    await refused(
      rawTar([
        { name: 'a', type: 'symlink', linkname: outside },
        { name: 'a/f', body: 'x' },
      ]),
      'INVALID_INPUT',
    );
    await refused(
      rawTar([
        { name: 'a', type: 'symlink', linkname: outside },
        { name: 'a/sub', type: 'directory' },
      ]),
      'INVALID_INPUT',
    );
    await refused(
      rawTar([
        { name: 'a', type: 'symlink', linkname: '.' },
        { name: 'a/a/f', body: 'x' },
      ]),
      'INVALID_INPUT',
    );
    const { dest } = await extract(
      rawTar([
        { name: 'keep', type: 'symlink', linkname: join(outside, 'keep') },
        { name: 'keep', body: 'replaced' },
        { name: 'dir', type: 'symlink', linkname: outside },
        { name: 'dir', type: 'directory', mode: 0o777 },
      ]),
    );
    expect(lstatSync(join(dest, 'keep')).isFile()).toBe(true);
    expect(readFileSync(join(dest, 'keep'), 'utf8')).toBe('replaced');
    expect(lstatSync(join(dest, 'dir')).isDirectory()).toBe(true);
    expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('outside');
    expect(readdirSync(outside)).toEqual(['keep']);
    expect(statSync(outside).mode & 0o7777).toBe(0o700);
  });

  it("refuses a symlink or file standing for the root ('.', '/')", async () => {
    for (const name of ['.', '/', './']) {
      await refused(rawTar([{ name, type: 'symlink', linkname: '/etc' }]), 'INVALID_INPUT');
    }
    await refused(rawTar([{ name: '.', body: 'x' }]), 'INVALID_INPUT');
  });
});

describe('entries', () => {
  it('sets owners and modes (setuid kept) through the new file, symlink owners on the link, directory modes last', async () => {
    const { dest, result } = await extract(
      rawTar([
        { name: './', type: 'directory', mode: 0o755, mtime: 1_500_000_000 },
        { name: 'ro/', type: 'directory', mode: 0o555, uid: 7, gid: 8, mtime: 1_600_000_000 },
        { name: 'ro/inside', body: 'written after its 0555 parent', mode: 0o4750, uid: 0, gid: 9 },
        { name: 'ro/link', type: 'symlink', linkname: '/etc/passwd', uid: 1234, gid: 1234 },
        { name: 'shared/', type: 'directory', mode: 0o3775, gid: 50 },
      ]),
    );
    expect(result).toMatchObject({ entries: 5, files: 1, directories: 3, symlinks: 1, fileBytes: 29, skippedTotal: 0 });
    const ro = statSync(join(dest, 'ro'));
    expect([ro.mode & 0o7777, ro.uid, ro.gid, ro.mtimeMs]).toEqual([0o555, 7, 8, 1_600_000_000_000]);
    const inside = statSync(join(dest, 'ro/inside'));
    expect([inside.mode & 0o7777, inside.uid, inside.gid]).toEqual([0o4750, 0, 9]);
    const link = lstatSync(join(dest, 'ro/link'));
    expect([link.isSymbolicLink(), link.uid, link.gid]).toEqual([true, 1234, 1234]);
    expect(statSync('/etc/passwd').uid).toBe(0);
    expect(statSync(join(dest, 'shared')).mode & 0o7777).toBe(0o3775);
    expect(statSync(dest).mode & 0o7777).toBe(0o755);
    expect(statSync(dest).mtimeMs).toBe(1_500_000_000_000);
  });

  it('makes the root an ordinary 0755 directory when the archive has no ./ entry', async () => {
    const { dest } = await extract(rawTar([{ name: 'f', body: 'x' }]));
    expect(statSync(dest).mode & 0o7777).toBe(0o755);
  });

  it('links a hard link to an earlier entry, and refuses one to anything else', async () => {
    const { dest, result } = await extract(
      rawTar([
        { name: 'bin/real', body: 'same inode', mode: 0o755 },
        { name: 'bin/alias', type: 'link', linkname: 'bin/real' },
        { name: 'bin/abs-alias', type: 'link', linkname: '/bin/real' },
      ]),
    );
    expect(statSync(join(dest, 'bin/real')).nlink).toBe(3);
    expect(result.hardlinks).toBe(2);
    const shadowLinks = statSync('/etc/shadow').nlink;
    expect((await refused(rawTar([{ name: 'stolen', type: 'link', linkname: '/etc/shadow' }]), 'INVALID_INPUT')).message).toMatch(
      /not an earlier entry/,
    );
    await refused(rawTar([{ name: 'stolen', type: 'link', linkname: '../x' }]), 'INVALID_INPUT');
    await refused(
      rawTar([
        { name: 'd', type: 'directory' },
        { name: 'stolen', type: 'link', linkname: 'd' },
      ]),
      'INVALID_INPUT',
    );
    await refused(
      rawTar([
        { name: 'e', type: 'symlink', linkname: '/etc' },
        { name: 'stolen', type: 'link', linkname: 'e/shadow' },
      ]),
      'INVALID_INPUT',
    );
    expect(statSync('/etc/shadow').nlink).toBe(shadowLinks);
  });

  it("refuses more hard links to one file than the filesystem takes, as the archive's fault", async () => {
    // ext4 takes 65000 links to an inode: the next linkat fails with EMLINK, which was reported
    // as a failure of the host (a 500 for a hostile upload). Filesystems without such a limit
    // (tmpfs) extract it.
    const link = entryBlocks({ name: 'l', type: 'link', linkname: 'f' });
    const links = Buffer.alloc(65_001 * 512);
    for (let i = 0; i < 65_001; i++) {
      const h = links.subarray(i * 512, (i + 1) * 512);
      link.copy(h);
      h.write(`l${i}`, 'latin1');
      setChecksum(h);
    }
    const archive = Buffer.concat([rawTar([{ name: 'f', body: 'x' }], { end: false }), links, Buffer.alloc(1024)]);
    const limits = { maxEntries: 70_000, maxBytes: 64 * 1024 * 1024 };
    if (statfsSync(work).type === EXT4_SUPER_MAGIC) {
      expect((await refused(archive, 'INVALID_INPUT', limits)).message).toMatch(/too many hard links/);
    } else {
      expect((await extract(archive, limits)).result.hardlinks).toBe(65_001);
    }
  });

  it('skips devices and FIFOs and reports them', async () => {
    const { dest, result } = await extract(
      rawTar([
        { name: 'dev/null', type: 'char-device', devmajor: 1, devminor: 3 },
        { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 },
        { name: 'run/pipe', type: 'fifo' },
        { name: 'etc/hostname', body: 'x' },
      ]),
    );
    expect(result.skipped).toEqual([
      { path: 'dev/null', type: 'char-device' },
      { path: 'dev/sda', type: 'block-device' },
      { path: 'run/pipe', type: 'fifo' },
    ]);
    expect(result.skippedTotal).toBe(3);
    expect(existsSync(join(dest, 'dev/null')) || existsSync(join(dest, 'run/pipe'))).toBe(false);
  });

  it('refuses owners outside 0..65535', async () => {
    await refused(rawTar([{ name: 'f', body: 'x', uid: 65536 }]), 'INVALID_INPUT');
    await refused(rawTar([{ name: 'f', body: 'x', pax: { gid: '4294967295' } }]), 'INVALID_INPUT');
  });
});

describe('limits', () => {
  it('counts the unpacked bytes of a gzip bomb, not the compressed ones', async () => {
    const bomb = gzipSync(rawTar([{ name: 'zeros', body: Buffer.alloc(64 * 1024 * 1024) }]), { level: 9 });
    expect(bomb.length).toBeLessThan(200 * 1024);
    expect((await refused(bomb, 'PAYLOAD_TOO_LARGE', { maxBytes: 8 * 1024 * 1024 })).message).toMatch(/larger than 8388608 bytes/);
  });

  it('counts entries, skipped ones included', async () => {
    const entries: RawEntry[] = Array.from({ length: 11 }, (_, i) => ({ name: `dev/fifo${i}`, type: 'fifo' }));
    await extract(rawTar(entries.slice(0, 10)), { maxEntries: 10 });
    await refused(rawTar(entries), 'PAYLOAD_TOO_LARGE', { maxEntries: 10 });
  });

  it('counts the directories a path implies against the entry limit', async () => {
    // Before: every missing parent of 'a/b/c/.../f' was made for free, so a million headers of
    // 128 components each (half a gigabyte of tar, a few megabytes gzipped) could make 128
    // million directories, more inodes than the host's disk has.
    const deep = (i: number, depth: number) => `${Array.from({ length: depth }, (_, d) => `${i}-${d}`).join('/')}/f`;
    const files = (depth: number) => rawTar(Array.from({ length: 10 }, (_, i) => ({ name: deep(i, depth), body: 'x' })));
    const { result } = await extract(files(4), { maxEntries: 50 }); // 10 files and 40 directories
    expect(result).toMatchObject({ entries: 10, files: 10 });
    const err = await refused(files(5), 'PAYLOAD_TOO_LARGE', { maxEntries: 50 });
    expect(err.message).toMatch(/more than 50 entries \(the directories their paths imply included\)/);
  });

  it('bounds the memory that directory modes waiting for the end may take', async () => {
    const deep = Array.from({ length: 16 }, (_, i) => String(i).padEnd(249, 'd')).join('/'); // ~4000 bytes
    const entry = rawTar([{ name: 'x', type: 'directory', pax: { path: deep } }], { end: false });
    const archive = Buffer.concat([...Array.from({ length: 17_000 }, () => entry), Buffer.alloc(1024)]);
    const err = await refused(gzipSync(archive), 'PAYLOAD_TOO_LARGE', { maxEntries: 100_000, maxBytes: 1 << 30 });
    expect(err.message).toMatch(/directories take more than/);
  });

  it('stops at once when the extractor refuses, without waiting for the rest of a slow input', async () => {
    const input = new PassThrough();
    input.write(rawTar([{ name: '../x', body: 'x' }], { end: false }));
    const dest = freshDest();
    const started = Date.now();
    await expect(extractArchive(input, dest, LIMITS)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(existsSync(dest)).toBe(false);
    input.destroy();
  });

  it('refuses a destination that already exists, leaving it alone', async () => {
    const dest = freshDest();
    mkdirSync(dest);
    writeFileSync(join(dest, 'mine'), 'x');
    await expect(extractArchive(Readable.from([rawTar([{ name: 'f', body: 'x' }])]), dest, LIMITS)).rejects.toMatchObject({
      code: 'EEXIST',
    });
    expect(readdirSync(dest)).toEqual(['mine']);
  });
});
