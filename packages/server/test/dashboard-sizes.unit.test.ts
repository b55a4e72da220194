import { describe, expect, it } from 'vitest';
import { readMebibytesOrSize } from '../dashboard/src/format';

const MiB = 1024 * 1024;

describe("the dashboard's size fields", () => {
  it('read a bare number as MiB, as their labels say, and a number with a unit as the CLI does', () => {
    expect(readMebibytesOrSize('')).toEqual({});
    expect(readMebibytesOrSize('  ')).toEqual({});
    expect(readMebibytesOrSize('64')).toEqual({ bytes: 64 * MiB });
    expect(readMebibytesOrSize('1.5')).toEqual({ bytes: 1.5 * MiB });
    expect(readMebibytesOrSize('512M')).toEqual({ bytes: 512 * MiB });
    expect(readMebibytesOrSize('2G')).toEqual({ bytes: 2 * 1024 * MiB });
    expect(readMebibytesOrSize('1.5GiB')).toEqual({ bytes: 1.5 * 1024 * MiB });
    expect(readMebibytesOrSize('500MB')).toEqual({ bytes: 500_000_000 });
  });

  it('say what they take when they cannot read it', () => {
    for (const bad of ['lots', '-5', '5X', '1e3', '99999999999999999999'])
      expect(readMebibytesOrSize(bad).error, bad).toMatch(/a number of MiB, or a size with its unit: 512M/);
  });
});
