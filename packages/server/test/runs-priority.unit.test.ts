// The runs queue's order (priority band, then the project's place: fair share), the run
// request's checks, and NAGAYA_RUN_RETENTION's forms.
import { bullPriorityOf, RUN_PRIORITY_MAX } from '@nagaya/contract';
import { createRunSchema } from '@nagaya/contract/schemas';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';

describe('the runs queue order', () => {
  it('puts a higher priority first, then a project with fewer queued runs, within BullMQ range', () => {
    expect(bullPriorityOf(100, 0)).toBeLessThan(bullPriorityOf(99, 0));
    expect(bullPriorityOf(100, 10_000_000)).toBeLessThan(bullPriorityOf(99, 0)); // a band is never crossed
    expect(bullPriorityOf(0, 0)).toBeLessThan(bullPriorityOf(0, 499)); // B's first before A's 500th
    expect(bullPriorityOf(RUN_PRIORITY_MAX, 0)).toBe(1);
    expect(bullPriorityOf(0, Number.MAX_SAFE_INTEGER)).toBeLessThanOrEqual(2 ** 21); // BullMQ's largest priority
  });
});

describe('a run request', () => {
  const ok = { image: 'busybox', command: ['true'], timeoutSeconds: 1 };
  it('takes the fields of the issue and refuses what a run cannot be', () => {
    expect(createRunSchema.safeParse({ ...ok, stdin: Buffer.from('x').toString('base64'), priority: 100 }).success).toBe(true);
    for (const bad of [
      { ...ok, timeoutSeconds: 0 },
      { ...ok, priority: 101 },
      { ...ok, stdin: 'not base64!' },
      { ...ok, command: [] },
      { ...ok, network: { mode: 'bridge', publish: [{ hostPort: 8080, containerPort: 80 }] } },
      { ...ok, schedule: '* * * * * *', delaySeconds: 5 },
      { ...ok, surprise: true },
    ])
      expect(createRunSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
  });
});

describe('NAGAYA_RUN_RETENTION', () => {
  const retention = (value: string | undefined) => loadConfig({ NAGAYA_RUN_RETENTION: value }, { role: 'api' }).runRetentionMs;
  it('reads seconds, m, h and d; 7 days by default; refuses the rest', () => {
    expect(retention(undefined)).toBe(7 * 86_400_000);
    expect(retention('90')).toBe(90_000);
    expect(retention('30m')).toBe(1_800_000);
    expect(retention('12h')).toBe(43_200_000);
    expect(retention('2d')).toBe(172_800_000);
    expect(() => retention('1w')).toThrow(/NAGAYA_RUN_RETENTION/);
  });
});
