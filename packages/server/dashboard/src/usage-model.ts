// The live usage graph's model: readings of GET /containers/:name/stats kept for a few minutes,
// CPU % derived between successive readings, and the points of an SVG polyline. No DOM here.
import type { ContainerStatsView } from '@nagaya/contract';

/** One point of the graph. */
export interface UsagePoint {
  at: number;
  memoryBytes: number | null;
  /** Percent of one core since the reading before (null for the first). */
  cpuPercent: number | null;
}

/** How much history the graph keeps (and shows across its width). */
export const USAGE_WINDOW_MS = 5 * 60_000;

/** Adds a reading to the points (CPU % against the reading before it), dropping those older than the window. */
export function addReading(
  points: readonly UsagePoint[],
  previous: ContainerStatsView | undefined,
  reading: ContainerStatsView,
  windowMs = USAGE_WINDOW_MS,
): UsagePoint[] {
  const cpuPercent =
    previous && previous.cpuSeconds !== null && reading.cpuSeconds !== null && reading.at > previous.at
      ? Math.max(0, (100 * (reading.cpuSeconds - previous.cpuSeconds)) / ((reading.at - previous.at) / 1000))
      : null;
  return [...points.filter((p) => p.at > reading.at - windowMs), { at: reading.at, memoryBytes: reading.memoryBytes, cpuPercent }];
}

/**
 * The "x,y x,y …" of a polyline: time across the window (the newest at the right edge), values
 * from 0 at the bottom to `max` at the top; points without a value are left out.
 */
export function sparkline(
  points: readonly UsagePoint[],
  value: (p: UsagePoint) => number | null,
  size: { width: number; height: number; max: number; windowMs?: number },
): string {
  const newest = points.at(-1)?.at ?? 0;
  const windowMs = size.windowMs ?? USAGE_WINDOW_MS;
  const max = size.max > 0 ? size.max : 1;
  return points
    .flatMap((p) => {
      const v = value(p);
      if (v === null) return [];
      const x = size.width - ((newest - p.at) / windowMs) * size.width;
      const y = size.height - (Math.min(v, max) / max) * size.height;
      return [`${x.toFixed(1)},${y.toFixed(1)}`];
    })
    .join(' ');
}

/** The top of a graph's scale: its limit if it has one, else the highest value seen (at least `floor`). */
export function scaleTop(
  points: readonly UsagePoint[],
  value: (p: UsagePoint) => number | null,
  limit: number | null,
  floor: number,
): number {
  if (limit !== null && limit > 0) return limit;
  return Math.max(floor, ...points.map((p) => value(p) ?? 0));
}
