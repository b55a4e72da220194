import { describe, expect, it } from 'vitest';

import { kernelMapMatches } from '../src/proc-id-maps';

describe('kernelMapMatches', () => {
  const lines = [
    { nsId: 0, hostId: 1_000_000, count: 1000 },
    { nsId: 1000, hostId: 1000, count: 1 },
  ];
  it('matches the kernel text in any order and with its padding', () => {
    expect(kernelMapMatches('         0    1000000       1000\n      1000       1000          1\n', lines)).toBe(true);
    expect(kernelMapMatches('1000 1000 1\n0 1000000 1000', lines)).toBe(true);
  });

  it('refuses a missing line, an extra line, a different count, or an unreadable file', () => {
    expect(kernelMapMatches('0 1000000 1000\n', lines)).toBe(false);
    expect(kernelMapMatches('0 1000000 1000\n1000 1000 1\n2000 2000 1\n', lines)).toBe(false);
    expect(kernelMapMatches('0 1000000 1000\n1000 1000 2\n', lines)).toBe(false);
    expect(kernelMapMatches(undefined, lines)).toBe(false);
  });
});
