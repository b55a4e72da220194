import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FALLBACK_RANGE, loadSystemPoolRanges, AllocatorError, parseSubidFile, rangesForUser } from '@nagaya/allocator';

describe('parseSubidFile', () => {
  it('reads owner:start:count lines, skipping comments and blank lines', () => {
    const entries = parseSubidFile('# comment\n\nroot:100000:65536\n  lxd:165536:65536  \n', '/etc/subuid');
    expect(entries).toEqual([
      { owner: 'root', start: 100000, count: 65536, line: 3 },
      { owner: 'lxd', start: 165536, count: 65536, line: 4 },
    ]);
  });

  it('names the file and line of a malformed line', () => {
    for (const bad of ['root:100000', 'root:abc:65536', 'root:100000:-1', ':1:2', 'root:1:2:3', 'root:100000:0x10']) {
      let caught: unknown;
      try {
        parseSubidFile(`root:100000:65536\n${bad}\n`, '/etc/subuid');
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(AllocatorError);
      expect((caught as AllocatorError).code).toBe('INVALID_INPUT');
      expect((caught as AllocatorError).message).toMatch(/^\/etc\/subuid:2: /);
    }
  });

  it('refuses a range that starts at host ID 0', () => {
    expect(() => parseSubidFile('root:0:65536', 'f')).toThrow(/f:1: range starts at host ID 0/);
  });

  it('refuses a count of 0', () => {
    expect(() => parseSubidFile('root:100000:0', 'f')).toThrow(/count is 0/);
  });

  it('accepts a range that ends exactly at 2^32-1 and refuses one that passes it (wrapping count)', () => {
    expect(parseSubidFile('root:4294901759:65536', 'f')).toHaveLength(1);
    expect(() => parseSubidFile('root:4294901759:65537', 'f')).toThrow(/passes 4294967295/);
    expect(() => parseSubidFile('root:4294967295:1', 'f')).toThrow(/passes/);
    expect(() => parseSubidFile('root:1000000:4294967295', 'f')).toThrow(/passes/);
    expect(() => parseSubidFile('root:99999999999:1', 'f')).toThrow(/not a decimal number/);
  });
});

describe('rangesForUser', () => {
  it('merges several lines of one user, by name or by numeric uid, and ignores other users', () => {
    const entries = parseSubidFile('root:100000:65536\nalice:165536:65536\n0:231072:65536\nroot:165536:1\nroot:500000:10\n', 'f');
    expect(rangesForUser(entries, 'root', 0)).toEqual([
      { start: 100000, end: 165537 },
      { start: 231072, end: 296608 },
      { start: 500000, end: 500010 },
    ]);
    expect(rangesForUser(entries, 'alice')).toEqual([{ start: 165536, end: 231072 }]);
  });
});

describe('loadSystemPoolRanges', () => {
  it('reads the files and falls back to LXD defaults, saying so, when the user has no entry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'subid-'));
    await writeFile(join(dir, 'subuid'), 'root:100000:131072\n');
    await writeFile(join(dir, 'subgid'), 'someoneelse:100000:65536\n');
    await writeFile(join(dir, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    const warnings: string[] = [];
    const ranges = await loadSystemPoolRanges({
      subuidPath: join(dir, 'subuid'),
      subgidPath: join(dir, 'subgid'),
      passwdPath: join(dir, 'passwd'),
      warn: (m) => warnings.push(m),
    });
    expect(ranges.uid).toEqual([{ start: 100000, end: 231072 }]);
    expect(ranges.gid).toEqual([FALLBACK_RANGE]);
    expect(ranges.gidSource).toBe('fallback');
    expect(warnings.join('\n')).toMatch(/no entry for root; using the fallback range 1000000\+1000000000/);
  });

  it('falls back when the files do not exist', async () => {
    const warnings: string[] = [];
    const ranges = await loadSystemPoolRanges({
      subuidPath: '/nonexistent/subuid',
      subgidPath: '/nonexistent/subgid',
      warn: (m) => warnings.push(m),
    });
    expect(ranges.uid).toEqual([{ start: 1_000_000, end: 1_001_000_000 }]);
    expect(warnings).toHaveLength(2);
  });
});
