// `nagaya stats [NAME]`: a live table of what running containers use, as `docker stats` shows it.
import { ApiError, type ContainerStatsView } from '@nagaya/contract';
import type { ApiClient } from './api-client';
import { bytes, table } from './format';

/** The options of `nagaya stats`, as parseArgs gives them. */
export interface StatsOptions {
  'no-stream'?: boolean;
  json?: boolean;
}

/** How often the live table refreshes. */
export const STATS_REFRESH_MS = 2_000;
/** Stats calls in flight at once when every running container of the project is shown. */
const CONCURRENT_CALLS = 4;

/** One container's row: its stats and, from the reading before, its CPU use in percent of one core. */
export interface StatsRow extends ContainerStatsView {
  cpuPercent: number | null;
}

/** CPU percent of one core between two readings of one container (null without an earlier one). */
export function cpuPercent(before: ContainerStatsView | undefined, now: ContainerStatsView): number | null {
  if (!before || before.cpuSeconds === null || now.cpuSeconds === null || now.at <= before.at) return null;
  return (100 * (now.cpuSeconds - before.cpuSeconds)) / ((now.at - before.at) / 1000);
}

/** The table `nagaya stats` prints. */
export function statsTable(rows: readonly StatsRow[]): string {
  const size = (n: number | null) => (n === null ? '-' : bytes(n));
  return table(
    rows.map((r) => ({
      name: r.name,
      'cpu %': r.cpuPercent === null ? '-' : `${r.cpuPercent.toFixed(1)}%`,
      'cpu time': r.cpuSeconds === null ? '-' : `${r.cpuSeconds.toFixed(2)}s`,
      mem: size(r.memoryBytes),
      peak: size(r.memoryPeakBytes),
      limit: size(r.memoryLimitBytes),
      'mem %': r.memoryBytes === null || r.memoryLimitBytes === null ? '-' : `${((100 * r.memoryBytes) / r.memoryLimitBytes).toFixed(1)}%`,
      pids: r.pids === null ? '-' : r.pidsLimit === null ? String(r.pids) : `${r.pids}/${r.pidsLimit}`,
      writable: size(r.writableLayerBytes),
    })),
    ['name', 'cpu %', 'cpu time', 'mem', 'peak', 'limit', 'mem %', 'pids', 'writable'],
  );
}

/** Runs `work` over `items`, at most `limit` at once, keeping their order. */
async function eachLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

/**
 * One reading of the named container, or of every running container of the project (one stats
 * call each, a few at a time; one that stopped in between is left out).
 */
async function readAll(client: ApiClient, name: string | undefined): Promise<ContainerStatsView[]> {
  const statsOf = (n: string) => client.get<ContainerStatsView>(`/containers/${encodeURIComponent(n)}/stats`);
  if (name !== undefined) return [await statsOf(name)];
  const { containers } = await client.get<{ containers: Array<{ name: string }> }>('/containers?state=running');
  const read = await eachLimited(containers, CONCURRENT_CALLS, (c) =>
    statsOf(c.name).catch((err: unknown) => {
      // stopped, deleted or cut off since the list was read: left out of this refresh
      if (err instanceof ApiError && ['CONFLICT', 'NOT_FOUND', 'NODE_OFFLINE'].includes(err.code)) return undefined;
      throw err;
    }),
  );
  return read.filter((s): s is ContainerStatsView => s !== undefined);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `nagaya stats [NAME]`: refreshes every 2 s until Ctrl-C; --no-stream prints once (after a
 * second reading 1 s later, for CPU %); --json prints the rows as JSON (one line per refresh).
 */
export async function statsCommand(client: ApiClient, name: string | undefined, options: StatsOptions): Promise<void> {
  const previous = new Map<string, ContainerStatsView>();
  const rowsOf = (readings: ContainerStatsView[]): StatsRow[] => {
    const rows = readings.map((s) => ({ ...s, cpuPercent: cpuPercent(previous.get(s.name), s) }));
    previous.clear();
    for (const s of readings) previous.set(s.name, s);
    return rows;
  };
  if (options['no-stream']) {
    rowsOf(await readAll(client, name));
    await pause(1_000);
    const rows = rowsOf(await readAll(client, name));
    console.log(options.json ? JSON.stringify(rows, null, 2) : statsTable(rows));
    return;
  }
  const live = process.stdout.isTTY === true && !options.json;
  for (;;) {
    const started = Date.now();
    const rows = rowsOf(await readAll(client, name));
    if (options.json) console.log(JSON.stringify(rows));
    else if (live) process.stdout.write(`\x1b[H\x1b[2J${statsTable(rows)}\n`);
    else console.log(`${statsTable(rows)}\n`);
    await pause(Math.max(0, STATS_REFRESH_MS - (Date.now() - started)));
  }
}
