import { get } from '../api';
import { ErrorBanner, Link, Loading, PageHeader, PoolOccupancyBar, StateBadge } from '../components/common';
import { ageOf, when } from '../format';
import { failedJobsThatMatter } from '../failed-jobs';
import { usePoll } from '../poll';
import { FLEET_EVENTS } from '../live-events';
import { containerHref, inProject, projectOf, useProjectScope } from '../project';
import { CONTAINER_STATES, type ContainerView, type JobView, type NodeView, type PoolView } from '@nagaya/contract';

interface OverviewData {
  containers: ContainerView[];
  nodes: NodeView[];
  pools: PoolView[];
  failed: JobView[];
}

/** How many of the latest jobs the overview looks through for failed ones that still matter. */
const RECENT_JOBS = 100;

/** Containers by state, nodes online, pool occupancy, recent failed jobs (not those whose container has since succeeded). */
export function OverviewPage() {
  const { current } = useProjectScope();
  const { data, error, updatedAt } = usePoll(
    async (): Promise<OverviewData> => {
      const [c, n, p, j] = await Promise.all([
        get<{ containers: ContainerView[] }>(inProject('/containers', current)),
        get<{ nodes: NodeView[] }>('/nodes'),
        get<{ pools: PoolView[] }>('/pools'),
        // jobs of every state: a later completed job of a container shows that its failure is behind it
        get<{ jobs: JobView[] }>(inProject(`/jobs?limit=${RECENT_JOBS}`, current)),
      ]);
      return { containers: c.containers, nodes: n.nodes, pools: p.pools, failed: failedJobsThatMatter(j.jobs, c.containers) };
    },
    'overview',
    3000,
    FLEET_EVENTS,
  );
  return (
    <section>
      <PageHeader title="Overview" updatedAt={updatedAt} />
      <ErrorBanner error={error} prefix="Could not load the overview" />
      {!data ? (
        !error && <Loading />
      ) : (
        <div class="cards">
          <article class="card">
            <h2>
              <Link href="/containers">Containers</Link> <span class="count">{data.containers.length}</span>
            </h2>
            <ul class="state-counts">
              {CONTAINER_STATES.map((s) => {
                const n = data.containers.filter((c) => c.state === s).length;
                return (
                  <li key={s} class={n ? '' : 'zero'}>
                    <StateBadge state={s} /> <strong>{n}</strong>
                  </li>
                );
              })}
            </ul>
          </article>
          <article class="card">
            <h2>
              <Link href="/nodes">Nodes</Link>{' '}
              <span class="count">
                {data.nodes.filter((n) => n.online).length} / {data.nodes.length} online
              </span>
            </h2>
            <ul class="plain">
              {data.nodes.map((n) => (
                <li key={n.name}>
                  <span class={`dot ${n.online ? 'on' : 'off'}`} aria-hidden="true" /> {n.name}{' '}
                  <span class="muted">
                    {n.online ? 'online' : 'offline'} · beat {ageOf(n.heartbeatAt)} ago · {n.containers} containers
                  </span>
                </li>
              ))}
              {data.nodes.length === 0 && <li class="muted">No node has reported yet.</li>}
            </ul>
          </article>
          <article class="card wide">
            <h2>
              <Link href="/pools">Pool occupancy</Link>
            </h2>
            {data.pools.map((p) => {
              const s = p.slices;
              const used = s.active + s.shared + s.outOfPool;
              return (
                <div key={p.name} class="pool-line">
                  <div>
                    <Link href={`/map?pool=${encodeURIComponent(p.name)}`}>{p.name}</Link>{' '}
                    <span class="muted">
                      {used} of {s.total} slots in use ({((100 * used) / Math.max(1, s.total)).toFixed(2)}%), {s.quarantined + s.keyed}{' '}
                      resting, {s.free} free
                    </span>
                  </div>
                  <PoolOccupancyBar stats={s} />
                </div>
              );
            })}
          </article>
          <article class="card wide">
            <h2>
              <Link href="/jobs?state=failed">Recent failed jobs</Link>
            </h2>
            {data.failed.length === 0 ? (
              <p class="muted">None.</p>
            ) : (
              <ul class="plain">
                {data.failed.map((j) => (
                  <li key={j.id}>
                    <strong>{j.kind}</strong> of{' '}
                    {j.container !== null ? (
                      <Link href={containerHref(j.container, projectOf(j.project, current))}>{j.container}</Link>
                    ) : (
                      `image ${j.image}`
                    )}{' '}
                    <span class="muted" title={when(j.createdAt)}>
                      {ageOf(j.createdAt)} ago
                    </span>
                    <div class="error-text">{j.error}</div>
                  </li>
                ))}
              </ul>
            )}
          </article>
        </div>
      )}
    </section>
  );
}
