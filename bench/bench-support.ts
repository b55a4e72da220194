// What several benches share: quantiles of sorted samples, and the maintenance connection that
// creates and drops their throwaway databases.
import pg from 'pg';
import { testDatabaseUrl, withDatabase } from '../packages/allocator/test/support/test-services';

/** The q-quantile (0..1) of samples sorted ascending. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Runs `fn` on a connection to the test server's `postgres` database (CREATE/DROP DATABASE run outside the one they name). */
export async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: withDatabase(testDatabaseUrl(), 'postgres') });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Prints measure/value rows as the benches' two-column table. */
export function printTable(rows: Array<[string, string]>): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`${'measure'.padEnd(width)}  value`);
  console.log(`${'-'.repeat(width)}  -----`);
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}
