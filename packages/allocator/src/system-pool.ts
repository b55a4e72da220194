import type { Allocator } from './allocator';
import { DEFAULT_POOL } from './allocator';
import { loadSystemPoolRanges, type LoadSubidOptions } from './subid-file';
import type { PoolInfo, SyncReport } from './types';

export interface SystemPoolOptions extends LoadSubidOptions {
  /** Pool name (default "default"). */
  name?: string;
  quarantineSeconds?: number;
}

/**
 * Makes (or re-reads) the pool from this host's /etc/subuid and /etc/subgid lines for the
 * service user; a pool that shrank keeps its outside leases as out_of_pool (see syncPool).
 */
export async function ensureSystemPool(
  allocator: Allocator,
  options: SystemPoolOptions = {},
): Promise<{ pool: PoolInfo; created: boolean; sync?: SyncReport }> {
  const ranges = await loadSystemPoolRanges(options);
  return allocator.ensurePool({
    name: options.name ?? DEFAULT_POOL,
    uidRanges: ranges.uid,
    gidRanges: ranges.gid,
    ...(options.quarantineSeconds === undefined ? {} : { quarantineSeconds: options.quarantineSeconds }),
    source: ranges.uidSource === ranges.gidSource ? ranges.uidSource : `${ranges.uidSource} + ${ranges.gidSource}`,
  });
}
