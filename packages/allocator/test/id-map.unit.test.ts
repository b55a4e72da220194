import { describe, expect, it } from 'vitest';
import { buildIdMaps, formatMapLines, MAX_MAP_LINES, AllocatorError, validateRawEntries } from '@nagaya/allocator';

const slice = { uidBase: 1_000_000, gidBase: 2_000_000, size: 65536 };

describe('buildIdMaps', () => {
  it('maps the slice from namespace ID 0 on both sides', () => {
    expect(buildIdMaps(slice, [])).toEqual({
      uid: [{ nsId: 0, hostId: 1_000_000, count: 65536 }],
      gid: [{ nsId: 0, hostId: 2_000_000, count: 65536 }],
    });
  });

  it('punches a raw entry into the slice, splitting it (LXD AddSafe)', () => {
    const maps = buildIdMaps(slice, [{ kind: 'uid', hostId: 1000, nsId: 1000, count: 1 }]);
    expect(maps.uid).toEqual([
      { nsId: 0, hostId: 1_000_000, count: 1000 },
      { nsId: 1000, hostId: 1000, count: 1 },
      { nsId: 1001, hostId: 1_001_001, count: 64535 },
    ]);
    expect(maps.gid).toEqual([{ nsId: 0, hostId: 2_000_000, count: 65536 }]);
    expect(formatMapLines(maps.uid)).toBe('0 1000000 1000\n1000 1000 1\n1001 1001001 64535\n');
  });

  it('handles raw entries at the edges of the slice and outside it', () => {
    const maps = buildIdMaps(slice, [
      { kind: 'both', hostId: 5000, nsId: 0, count: 10 },
      { kind: 'both', hostId: 6000, nsId: 65530, count: 6 },
      { kind: 'gid', hostId: 7000, nsId: 100000, count: 1 },
    ]);
    expect(maps.uid).toEqual([
      { nsId: 0, hostId: 5000, count: 10 },
      { nsId: 10, hostId: 1_000_010, count: 65520 },
      { nsId: 65530, hostId: 6000, count: 6 },
    ]);
    expect(maps.gid.at(-1)).toEqual({ nsId: 100000, hostId: 7000, count: 1 });
  });

  it(`refuses a map of more than ${MAX_MAP_LINES} lines`, () => {
    const raw = Array.from({ length: 200 }, (_, i) => ({ kind: 'uid' as const, hostId: 10 + 2 * i, nsId: 1 + 2 * i, count: 1 }));
    expect(() => buildIdMaps(slice, raw)).toThrow(/kernel allows 340/);
  });
});

describe('validateRawEntries', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{}, /must be an array/],
    [[{ kind: 'uid', hostId: 0, nsId: 0, count: 1 }], /host ID 0/],
    [[{ kind: 'both', hostId: 0, nsId: 5, count: 100 }], /host ID 0/],
    [[{ kind: 'pid', hostId: 1000, nsId: 0, count: 1 }], /kind/],
    [[{ kind: 'uid', hostId: 1000, nsId: 0, count: 0 }], /count must be at least 1/],
    [[{ kind: 'uid', hostId: 1.5, nsId: 0, count: 1 }], /hostId must be an integer/],
    [[{ kind: 'uid', hostId: '1000', nsId: 0, count: 1 }], /hostId must be an integer/],
    [[{ kind: 'uid', hostId: 4294967294, nsId: 0, count: 2 }], /past 4294967295/],
    [
      [
        { kind: 'uid', hostId: 1000, nsId: 0, count: 10 },
        { kind: 'both', hostId: 2000, nsId: 5, count: 1 },
      ],
      /overlap/,
    ],
    [
      [
        { kind: 'uid', hostId: 1000, nsId: 0, count: 10 },
        { kind: 'uid', hostId: 1005, nsId: 50, count: 1 },
      ],
      /overlap/,
    ],
    [[null], /must be an object/],
  ];
  it.each(bad)('refuses %j', (input, why) => {
    expect(() => validateRawEntries(input)).toThrow(why);
    try {
      validateRawEntries(input);
    } catch (err) {
      expect(err).toBeInstanceOf(AllocatorError);
      expect((err as AllocatorError).code).toBe('INVALID_INPUT');
    }
  });

  it('accepts a uid and a gid entry on the same IDs (they are different sides)', () => {
    expect(
      validateRawEntries([
        { kind: 'uid', hostId: 1000, nsId: 0, count: 10 },
        { kind: 'gid', hostId: 1000, nsId: 0, count: 10 },
      ]),
    ).toHaveLength(2);
  });
});
