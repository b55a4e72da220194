import { get } from '../api';
import { ErrorBanner, Link, Loading, PageHeader, PoolOccupancyBar } from '../components/common';
import { type Column, DataTable } from '../components/data-table';
import { range } from '../format';
import { usePoll } from '../poll';
import { SLICE_EVENTS } from '../live-events';
import type { PoolStats, PoolView } from '@nagaya/contract';

/** A pool's slot counts, one column each. */
const STAT_COLUMNS: Column<PoolStats>[] = [
  { header: 'Slots', cell: (s) => s.total },
  { header: 'Active', cell: (s) => s.active },
  { header: 'Shared', cell: (s) => s.shared },
  { header: 'Quarantined', cell: (s) => s.quarantined },
  { header: 'Reserved for key', cell: (s) => s.keyed },
  { header: 'Out of pool', cell: (s) => s.outOfPool },
  { header: 'Free', cell: (s) => s.free },
  { header: 'Leases', cell: (s) => s.leases },
];

/** Every ID pool: its host ranges, slot grid and slot counts. */
export function PoolsPage() {
  const { data, error, updatedAt } = usePoll(() => get<{ pools: PoolView[] }>('/pools'), 'pools', 3000, SLICE_EVENTS);
  return (
    <section>
      <PageHeader title="Pools" updatedAt={updatedAt} />
      <ErrorBanner error={error} prefix="Could not load the pools" />
      {!data
        ? !error && <Loading />
        : data.pools.map((p) => {
            const s = p.slices;
            return (
              <article class="card pool" key={p.name}>
                <h2>
                  {p.name}{' '}
                  <Link class="button small" href={`/map?pool=${encodeURIComponent(p.name)}`}>
                    Open map
                  </Link>
                </h2>
                <PoolOccupancyBar stats={s} />
                <dl class="facts">
                  <dt>Source</dt>
                  <dd>{p.source}</dd>
                  <dt>Host uids</dt>
                  <dd class="mono">{p.uid.map((r) => range(r.start, r.count)).join(', ')}</dd>
                  <dt>Host gids</dt>
                  <dd class="mono">{p.gid.map((r) => range(r.start, r.count)).join(', ')}</dd>
                  <dt>Slot grid</dt>
                  <dd>
                    slot k = uid origin {p.uidOrigin} + k × {p.sliceSize} (gid origin {p.gidOrigin})
                  </dd>
                  <dt>Quarantine</dt>
                  <dd>{p.quarantineSeconds} s</dd>
                  <dt>Raw allowed</dt>
                  <dd class="mono">
                    {[
                      ...p.rawAllowed.uid.map((r) => `uid ${range(r.start, r.count)}`),
                      ...p.rawAllowed.gid.map((r) => `gid ${range(r.start, r.count)}`),
                    ].join(', ') || 'none'}
                  </dd>
                </dl>
                <DataTable className="stats" columns={STAT_COLUMNS} rows={[s]} rowKey={() => p.name} />
              </article>
            );
          })}
    </section>
  );
}
