import { describe, expect, it } from 'vitest';
import { formatIdMapLine, hostRootOf, idMapProblems, MAX_ID_MAP_LINES, toHostId } from '../src/id-map';

const slice = [{ nsId: 0, hostId: 1_000_000, count: 65536 }];

describe('idMapProblems', () => {
  it('finds nothing wrong with a slice, or a slice with a raw line punched in', () => {
    expect(idMapProblems('uid', slice)).toEqual([]);
    expect(
      idMapProblems('gid', [
        { nsId: 0, hostId: 1_000_000, count: 1000 },
        { nsId: 1000, hostId: 1000, count: 1 },
        { nsId: 1001, hostId: 1_001_001, count: 64535 },
      ]),
    ).toEqual([]);
  });

  it('accepts a line whose last ID is 2^32-2 and refuses one reaching 2^32-1 (the kernel refuses it), on either side', () => {
    expect(idMapProblems('uid', [{ nsId: 0, hostId: 2 ** 32 - 1 - 65536, count: 65536 }])).toEqual([]);
    expect(idMapProblems('uid', [{ nsId: 0, hostId: 2 ** 32 - 65536, count: 65536 }]).join()).toMatch(
      /uidMap\[0\] reaches host id 2\^32-1/,
    );
    expect(
      idMapProblems('gid', [
        { nsId: 0, hostId: 1, count: 1 },
        { nsId: 2 ** 32 - 2, hostId: 70000, count: 1 },
      ]),
    ).toEqual([]);
    expect(
      idMapProblems('gid', [
        { nsId: 0, hostId: 1, count: 1 },
        { nsId: 2 ** 32 - 1, hostId: 70000, count: 1 },
      ]).join(),
    ).toMatch(/gidMap\[1\] reaches ns id 2\^32-1/);
    expect(
      idMapProblems('uid', [
        { nsId: 0, hostId: 1, count: 65536 },
        { nsId: 2 ** 32 - 1, hostId: 70000, count: 2 },
      ]).join(),
    ).toMatch(/uidMap\[1\] reaches ns id 2\^32-1/);
  });

  it('finds ranges that overlap by one ID, and accepts ranges that touch', () => {
    const touching = [
      { nsId: 0, hostId: 1000, count: 10 },
      { nsId: 10, hostId: 1010, count: 10 },
    ];
    expect(idMapProblems('uid', touching)).toEqual([]);
    expect(idMapProblems('uid', [touching[0]!, { nsId: 9, hostId: 2000, count: 10 }])).toEqual([
      'uidMap lines overlap on the namespace side at 9',
    ]);
    expect(idMapProblems('gid', [touching[0]!, { nsId: 10, hostId: 1009, count: 10 }])).toEqual([
      'gidMap lines overlap on the host side at 1009',
    ]);
  });

  it('refuses host root, a map without namespace root, an empty map and a malformed line', () => {
    expect(idMapProblems('uid', [{ nsId: 0, hostId: 0, count: 1 }]).join()).toMatch(/maps host id 0/);
    expect(idMapProblems('uid', [{ nsId: 1, hostId: 1000, count: 1 }])).toEqual(["uidMap must map namespace id 0 (the container's root)"]);
    expect(idMapProblems('uid', [])).toEqual(['uidMap must have at least one line']);
    expect(idMapProblems('uid', [{ nsId: -1, hostId: 1000, count: 1 }]).join()).toMatch(/nsId must be a non-negative integer/);
  });

  it(`allows ${MAX_ID_MAP_LINES} lines and refuses one more`, () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => ({ nsId: i, hostId: 1000 + i, count: 1 }));
    expect(idMapProblems('uid', lines(MAX_ID_MAP_LINES))).toEqual([]);
    expect(idMapProblems('uid', lines(MAX_ID_MAP_LINES + 1))).toEqual([
      `uidMap has ${MAX_ID_MAP_LINES + 1} lines; the kernel allows ${MAX_ID_MAP_LINES}`,
    ]);
  });
});

describe('reading a map', () => {
  const map = [
    { nsId: 1000, hostId: 1000, count: 1 },
    { nsId: 0, hostId: 1_000_000, count: 1000 },
  ];

  it('formats a line as the kernel reads it', () => {
    expect(formatIdMapLine(map[1]!)).toBe('0 1000000 1000');
  });

  it('finds the host root, and refuses a map without one', () => {
    expect(hostRootOf(map)).toBe(1_000_000);
    expect(() => hostRootOf([{ nsId: 1, hostId: 5, count: 1 }])).toThrow(/no line for namespace id 0/);
  });

  it('translates namespace IDs at the edges of each line, and leaves unmapped ones undefined', () => {
    expect(toHostId(map, 0)).toBe(1_000_000);
    expect(toHostId(map, 999)).toBe(1_000_999);
    expect(toHostId(map, 1000)).toBe(1000);
    expect(toHostId(map, 1001)).toBeUndefined();
  });
});
