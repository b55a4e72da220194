import { get } from '../api';
import { ErrorBanner, Link, Loading, PageHeader, PoolOccupancyBar } from '../components/common';
import { range } from '../format';
import { usePoll } from '../poll';
import { SLICE_EVENTS } from '../live-events';
import type { PoolView } from '@nagaya/contract';

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
                <table class="stats">
                  <thead>
                    <tr>
                      {['Slots', 'Active', 'Shared', 'Quarantined', 'Reserved for key', 'Out of pool', 'Free', 'Leases'].map((h) => (
                        <th scope="col" key={h}>
                          {h}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    <tr>
                      {[s.total, s.active, s.shared, s.quarantined, s.keyed, s.outOfPool, s.free, s.leases].map((v, i) => (
                        <td key={i}>{v}</td>
                      ))}
                    </tr>
                  </tbody>
                </table>
              </article>
            );
          })}
    </section>
  );
}
