import { expect } from 'vitest';
import type { ApiClient } from '../../src/cli/api-client';
import type { TestFleet } from './test-server';

// Helpers of the projects tests (projects*.test.ts), each of which starts its own fleet.

/** A token of `project` with `role`, made by the fleet's admin, as a client. */
export async function projectToken(fleet: TestFleet, name: string, role: string, project: string): Promise<ApiClient> {
  const created = await fleet.admin.post<{ token: string; project: string }>('/tokens', { name, role, project });
  expect(created.project).toBe(project);
  return fleet.client(created.token);
}

/** The number a `SELECT count(*) AS n ...` answers. */
export async function countRows(fleet: TestFleet, sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await fleet.db.pool.query<{ n: string }>(sql, values);
  return Number(rows[0]!.n);
}

/** Waits up to 30 s for `sql` to count `want`, then expects it. */
export async function eventuallyCount(fleet: TestFleet, sql: string, want: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  let n = await countRows(fleet, sql);
  while (n !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    n = await countRows(fleet, sql);
  }
  expect(n).toBe(want);
}

/** The container once it runs; throws when it failed or is not running after 30 s. */
export async function eventuallyRunning(client: ApiClient, name: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = await client.get<{ id: string; project: string; state: string; pid: number; image: string; error: unknown }>(
      `/containers/${name}`,
    );
    if (c.state === 'running') return c;
    if (c.state === 'failed') throw new Error(`${name} failed: ${JSON.stringify(c.error)}`);
    if (Date.now() > deadline) throw new Error(`${name} is ${c.state} after 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
