import { describe, expect, it } from 'vitest';
import { parseSize } from '../src/sizes';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

describe('parseSize', () => {
  it('reads a bare number as bytes', () => {
    expect(parseSize('0')).toBe(0);
    expect(parseSize('1048576')).toBe(MiB);
    expect(parseSize('536870912')).toBe(512 * MiB);
    expect(parseSize('1b')).toBe(1);
    expect(parseSize('4096B')).toBe(4096);
  });

  it('reads the bare suffixes k, m, g, t as Docker does: powers of 1024, in either case', () => {
    expect(parseSize('512M')).toBe(536870912);
    expect(parseSize('512m')).toBe(536870912);
    expect(parseSize('2G')).toBe(2 * GiB);
    expect(parseSize('2g')).toBe(2 * GiB);
    expect(parseSize('64k')).toBe(64 * KiB);
    expect(parseSize('1T')).toBe(TiB);
  });

  it('reads the IEC units, with and without the B', () => {
    expect(parseSize('1.5GiB')).toBe(1.5 * GiB);
    expect(parseSize('512MiB')).toBe(512 * MiB);
    expect(parseSize('512Mi')).toBe(512 * MiB);
    expect(parseSize('4KiB')).toBe(4 * KiB);
    expect(parseSize('2TiB')).toBe(2 * TiB);
    expect(parseSize('1gib')).toBe(GiB);
  });

  it('reads KB, MB, GB, TB as powers of 1000', () => {
    expect(parseSize('1KB')).toBe(1000);
    expect(parseSize('500MB')).toBe(500_000_000);
    expect(parseSize('2GB')).toBe(2_000_000_000);
    expect(parseSize('1TB')).toBe(1e12);
    expect(parseSize('1.5kB')).toBe(1500);
  });

  it('drops a fraction of a byte, as Docker does, and allows a space before the unit', () => {
    expect(parseSize('1.1K')).toBe(1126); // 1126.4
    expect(parseSize('0.5k')).toBe(512);
    expect(parseSize('512 M')).toBe(512 * MiB);
    expect(parseSize(' 2G ')).toBe(2 * GiB);
  });

  it('refuses everything else', () => {
    for (const bad of [
      '',
      'M',
      '-1',
      '-512M',
      '+5',
      '1e9',
      '.5G',
      '5.',
      '1.5',
      '1.5B',
      '0x10',
      '512X',
      '512MiBs',
      '512 MB B',
      '1Gb/s',
      '12,000',
      'NaN',
      'Infinity',
      '512MI B',
      '1ZiB',
    ])
      expect(parseSize(bad), bad).toBeUndefined();
  });

  it('refuses more bytes than a JavaScript number holds exactly (2^53)', () => {
    expect(parseSize('8191T')).toBe(8191 * TiB);
    expect(parseSize('7P')).toBe(7 * 1024 ** 5);
    expect(parseSize('8P')).toBeUndefined(); // 2^53
    expect(parseSize('8192P')).toBeUndefined(); // 2^63
    expect(parseSize(String(2 ** 53))).toBeUndefined();
    expect(parseSize(String(2 ** 53 - 1))).toBe(2 ** 53 - 1);
    expect(parseSize('9'.repeat(400))).toBeUndefined();
  });
});
