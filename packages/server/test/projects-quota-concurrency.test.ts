import type { ApiError, QuotaExceededDetails } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from './support/test-server';
import { countRows, eventuallyCount, projectToken } from './support/project-helpers';

// The memoryBytes and cpus quotas under a crowd: 16 concurrent creates against room for 10 give
// exactly 10 containers and 10 slices, and the 6 refused leave no row and take no slice. The
// container quota under the same crowd is in projects.test.ts.

let fleet: TestFleet;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 48 });
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
});

const MiB = 1024 * 1024;
const allLeases = 'SELECT count(*) AS n FROM id_lease';

async function crowd(project: string, quotas: Record<string, number>, limits: Record<string, number>) {
  await fleet.admin.post('/projects', { name: project, quotas });
  const client = await projectToken(fleet, `${project}-op`, 'operator', project);
  const leasesBefore = await countRows(fleet, allLeases);
  const outcomes = await Promise.allSettled(
    Array.from({ length: 16 }, (_, i) => client.post('/containers', { name: `c${i}`, image: 'busybox', limits })),
  );
  const accepted = outcomes.filter((o) => o.status === 'fulfilled');
  const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as ApiError] : []));
  expect(accepted).toHaveLength(10);
  expect(refused.map((e) => [e.status, e.code])).toEqual(Array(6).fill([403, 'QUOTA_EXCEEDED']));
  expect(await countRows(fleet, 'SELECT count(*) AS n FROM container WHERE project = $1', [project])).toBe(10);
  // every lease of the fleet, not only those joined to a container: a refused create must take none
  await eventuallyCount(fleet, allLeases, leasesBefore + 10);
  await new Promise((r) => setTimeout(r, 1500)); // and no late one comes after (a retried launch job)
  expect(await countRows(fleet, allLeases)).toBe(leasesBefore + 10);
  return refused[0]!.details as QuotaExceededDetails;
}

describe('quotas under concurrent creates', () => {
  it('16 creates of 64 MiB against memoryBytes 640 MiB: exactly 10 containers and 10 leases', async () => {
    const details = await crowd('mem', { memoryBytes: 640 * MiB }, { memoryBytes: 64 * MiB });
    expect(details).toEqual({ project: 'mem', quota: 'memoryBytes', limit: 640 * MiB, used: 640 * MiB, requested: 64 * MiB });
  });

  it('16 creates of 1 cpu against cpus 10: exactly 10 containers and 10 leases', async () => {
    const details = await crowd('cpu', { cpus: 10 }, { cpus: 1 });
    expect(details).toEqual({ project: 'cpu', quota: 'cpus', limit: 10, used: 10, requested: 1 });
  });
});
