import type { ContainerStatsView } from '@nagaya/contract';
import { describe, expect, it } from 'vitest';
import { addReading, scaleTop, sparkline, USAGE_WINDOW_MS } from '../dashboard/src/usage-model';

const reading = (at: number, cpuSeconds: number | null, memoryBytes: number | null = 1000): ContainerStatsView => ({
  name: 'c',
  at,
  memoryBytes,
  memoryPeakBytes: memoryBytes,
  memoryLimitBytes: null,
  cpuSeconds,
  pids: 1,
  pidsLimit: 100,
  writableLayerBytes: 0,
});

describe("the container page's usage graph", () => {
  it('derives CPU % of one core between readings, none for the first', () => {
    const first = addReading([], undefined, reading(10_000, 1));
    expect(first).toEqual([{ at: 10_000, memoryBytes: 1000, cpuPercent: null }]);
    const second = addReading(first, reading(10_000, 1), reading(12_000, 2.5));
    expect(second[1]!.cpuPercent).toBeCloseTo(75);
  });

  it('keeps only the last window of readings', () => {
    const old = addReading([], undefined, reading(0, 0));
    const now = addReading(old, reading(0, 0), reading(USAGE_WINDOW_MS + 1, 1));
    expect(now.map((p) => p.at)).toEqual([USAGE_WINDOW_MS + 1]);
  });

  it('draws the newest point at the right edge and values from the bottom up to the top of the scale', () => {
    const points = [
      { at: 0, memoryBytes: 0, cpuPercent: null },
      { at: USAGE_WINDOW_MS / 2, memoryBytes: 50, cpuPercent: 10 },
      { at: USAGE_WINDOW_MS, memoryBytes: 200, cpuPercent: 20 },
    ];
    expect(sparkline(points, (p) => p.memoryBytes, { width: 100, height: 10, max: 100 })).toBe('0.0,10.0 50.0,5.0 100.0,0.0');
    // a point without a value is left out
    expect(sparkline(points, (p) => p.cpuPercent, { width: 100, height: 10, max: 20 })).toBe('50.0,5.0 100.0,0.0');
    expect(scaleTop(points, (p) => p.memoryBytes, null, 16)).toBe(200);
    expect(scaleTop(points, (p) => p.memoryBytes, 64, 16)).toBe(64);
    expect(scaleTop([], (p) => p.memoryBytes, null, 16)).toBe(16);
  });
});
