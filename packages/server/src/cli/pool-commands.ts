// `nagaya pools` and `nagaya allocations`: the id pools and the slices allocated from them.
import type { ApiClient } from './api-client';
import { table, type Out } from './format';

/** The options of the allocations command, as parseArgs gives them. */
export interface AllocationOptions {
  pool?: string | undefined;
  history?: boolean | undefined;
}

/** `nagaya pools`: each pool's uid ranges and its slices by state. */
export async function poolsCommand(client: ApiClient, out: Out): Promise<void> {
  const { pools } = await client.get<{
    pools: Array<{
      name: string;
      source: string;
      sliceSize: number;
      slices: Record<string, number>;
      uid: Array<{ start: number; count: number }>;
    }>;
  }>('/pools');
  out(pools, () =>
    table(
      pools.map((p) => ({ name: p.name, uids: p.uid.map((r) => `${r.start}+${r.count}`).join(','), ...p.slices, source: p.source })),
      ['name', 'uids', 'total', 'active', 'quarantined', 'free', 'outOfPool', 'source'],
    ),
  );
}

/** `nagaya allocations [--pool P] [--history]`: the slices held (with --history, quarantined ones too). */
export async function allocationsCommand(client: ApiClient, options: AllocationOptions, out: Out): Promise<void> {
  const q = new URLSearchParams();
  if (options.pool) q.set('pool', options.pool);
  if (options.history) q.set('history', 'true');
  const { allocations } = await client.get<{
    allocations: Array<
      Record<string, unknown> & { uid: { start: number; count: number } | null; gid: { start: number; count: number } | null }
    >;
  }>(`/allocations${q.size ? `?${q}` : ''}`);
  out(allocations, () =>
    table(
      allocations.map((a) => ({
        ...a,
        uids: a.uid ? `${a.uid.start}-${a.uid.start + a.uid.count - 1}` : '-',
        gids: a.gid ? `${a.gid.start}-${a.gid.start + a.gid.count - 1}` : '-',
      })),
      ['pool', 'project', 'kind', 'state', 'container', 'uids', 'gids', 'key'],
    ),
  );
}
