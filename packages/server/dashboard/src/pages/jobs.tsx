import { describeError, get, post } from '../api';
import { ErrorBanner, Link, Loading, PageHeader, ProjectTag, StateBadge } from '../components/common';
import { ageOf, when } from '../format';
import { notify } from '../notices';
import { usePoll } from '../poll';
import { CONTAINER_EVENTS } from '../live-events';
import { containerHref, inProject, projectOf, useProjectScope } from '../project';
import { navigate } from '../router';
import { useCanOperate } from '../session';
import type { JobView } from '@nagaya/contract';

const STATES = ['', 'waiting', 'active', 'failed', 'completed'] as const;

/** Lifecycle jobs of the project in view (or every project): waiting, active, failed (with their errors, and a retry), completed. */
export function JobsPage(props: { state: string }) {
  const canOperate = useCanOperate();
  const { current } = useProjectScope();
  const state = (STATES as readonly string[]).includes(props.state) ? props.state : '';
  const { data, error, updatedAt, refresh } = usePoll(
    () => get<{ jobs: JobView[] }>(inProject(`/jobs?limit=200${state ? `&state=${state}` : ''}`, current)),
    `jobs:${state}`,
    2000,
    CONTAINER_EVENTS,
  );
  const retry = async (job: JobView) => {
    try {
      await post(inProject(`/jobs/${encodeURIComponent(job.id)}/retry`, projectOf(job.project, current)), {});
      notify(`${job.kind} of ${job.container ?? job.image} queued again`);
    } catch (err) {
      notify(`retry of ${job.id} failed: ${describeError(err)}`, 'error');
    }
    refresh();
  };
  return (
    <section>
      <PageHeader title="Jobs" updatedAt={updatedAt} />
      <fieldset class="tabs" aria-label="Show jobs in state">
        {STATES.map((s) => (
          <button key={s} type="button" aria-pressed={s === state} onClick={() => navigate(s ? `/jobs?state=${s}` : '/jobs', true)}>
            {s || 'all'}
          </button>
        ))}
      </fieldset>
      <ErrorBanner error={error} prefix="Could not load jobs" />
      {!data ? (
        !error && <Loading />
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">Container</th>
                {current === null && <th scope="col">Project</th>}
                <th scope="col">Node</th>
                <th scope="col">State</th>
                <th scope="col">Attempts</th>
                <th scope="col">Age</th>
                <th scope="col">Error</th>
                {canOperate && (
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {data.jobs.map((j) => (
                <tr key={j.id} data-job={j.id}>
                  <td title={j.id}>{j.kind}</td>
                  <td>
                    {j.container !== null ? (
                      <Link href={containerHref(j.container, projectOf(j.project, current))}>{j.container}</Link>
                    ) : (
                      <span>image {j.image}</span>
                    )}
                  </td>
                  {current === null && <td>{j.project ? <ProjectTag name={j.project} /> : <span class="muted">—</span>}</td>}
                  <td>{j.node}</td>
                  <td>
                    <StateBadge state={j.state} />
                    {j.state === 'active' && j.progress ? ` ${j.progress}%` : ''}
                  </td>
                  <td>{j.attempts}</td>
                  <td title={when(j.createdAt)}>{ageOf(j.createdAt)}</td>
                  <td class="error-text">{j.error ?? ''}</td>
                  {canOperate && (
                    <td>
                      {j.state === 'failed' && (
                        <button
                          type="button"
                          class="small"
                          onClick={() => void retry(j)}
                          aria-label={`Retry ${j.kind} of ${j.container ?? j.image}`}
                        >
                          Retry
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
              {data.jobs.length === 0 && (
                <tr>
                  <td colSpan={9} class="muted">
                    No jobs{state ? ` in state ${state}` : ''}.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
