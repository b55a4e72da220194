import { sinceToNanoseconds } from '@nagaya/contract/schemas';
import { describe, expect, it } from 'vitest';
import { sinceOption } from '../src/cli/options';

describe('since, as the API reads it', () => {
  it('takes RFC 3339 with up to nanoseconds and any offset, and Unix seconds with a fraction', () => {
    expect(sinceToNanoseconds('2026-12-07T15:04:05Z')).toBe(1_796_655_845_000_000_000n);
    expect(sinceToNanoseconds('2026-12-07T15:04:05.123456789Z')).toBe(1_796_655_845_123_456_789n);
    expect(sinceToNanoseconds('2026-12-07T16:04:05.5+01:00')).toBe(1_796_655_845_500_000_000n);
    expect(sinceToNanoseconds('1796655845')).toBe(1_796_655_845_000_000_000n);
    expect(sinceToNanoseconds('1796655845.25')).toBe(1_796_655_845_250_000_000n);
  });

  it('refuses what is neither', () => {
    for (const bad of ['yesterday', '10m', '2026-12-07', '2026-12-07T15:04:05', '2026-13-40T15:04:05Z', '-5', '1.2.3', ''])
      expect(sinceToNanoseconds(bad), bad).toBeNull();
  });
});

describe('nagaya logs --since', () => {
  const now = Date.parse('2026-12-07T15:00:00Z');

  it('turns a duration back from now into the time it names', () => {
    expect(sinceOption('10m', now)).toBe('2026-12-07T14:50:00.000Z');
    expect(sinceOption('1h30m', now)).toBe('2026-12-07T13:30:00.000Z');
    expect(sinceOption('45s', now)).toBe('2026-12-07T14:59:15.000Z');
  });

  it('passes a time or Unix seconds on, and says what it takes otherwise', () => {
    expect(sinceOption('2026-12-07T14:00:00Z', now)).toBe('2026-12-07T14:00:00Z');
    expect(sinceOption('1796655845', now)).toBe('1796655845');
    expect(() => sinceOption('ten minutes', now)).toThrow(/--since takes a duration such as 10m/);
  });
});
