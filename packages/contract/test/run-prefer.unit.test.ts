import { describe, expect, it } from 'vitest';
import { preferredWaitSeconds, RUN_WAIT_MAX_SECONDS } from '../src/run-schemas';

describe("POST /runs's Prefer: wait", () => {
  it('reads wait=N among other preferences, quoted or with parameters, capped at the longest wait', () => {
    expect(preferredWaitSeconds('wait=10')).toBe(10);
    expect(preferredWaitSeconds('respond-async, wait=20')).toBe(20);
    expect(preferredWaitSeconds('handling=strict,WAIT = "7"')).toBe(7);
    expect(preferredWaitSeconds('wait=5; foo=bar')).toBe(5);
    expect(preferredWaitSeconds('wait=0')).toBe(0);
    expect(preferredWaitSeconds('wait=100000')).toBe(RUN_WAIT_MAX_SECONDS);
  });

  it('ignores what is not a wait, or does not parse', () => {
    for (const prefer of [
      undefined,
      '',
      'respond-async',
      'wait',
      'wait=',
      'wait=-1',
      'wait=1.5',
      'wait=soon',
      'waiting=3',
      'wait=99999999999',
    ])
      expect(preferredWaitSeconds(prefer)).toBeUndefined();
  });
});
