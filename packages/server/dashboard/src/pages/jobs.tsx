import { describeError, get, post } from '../api';
import { ErrorBanner, Link, Loading, PageHeader, ProjectTag, StateBadge } from '../components/common';
import { type Column, DataTable } from '../components/data-table';
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
  const columns: Column<JobView>[] = [
    { header: 'Kind', title: (j) => j.id, cell: (j) => j.kind },
    {
      header: 'Container',
      cell: (j) =>
        j.container !== null ? (
          <Link href={containerHref(j.container, projectOf(j.project, current))}>{j.container}</Link>
        ) : (
          <span>image {j.image}</span>
        ),
    },
    {
      header: 'Project',
      shown: current === null,
      cell: (j) => (j.project ? <ProjectTag name={j.project} /> : <span class="muted">—</span>),
    },
    { header: 'Node', cell: (j) => j.node },
    {
      header: 'State',
      cell: (j) => (
        <>
          <StateBadge state={j.state} />
          {j.state === 'active' && j.progress ? ` ${j.progress}%` : ''}
        </>
      ),
    },
    { header: 'Attempts', cell: (j) => j.attempts },
    { header: 'Age', title: (j) => when(j.createdAt), cell: (j) => ageOf(j.createdAt) },
    { header: 'Error', className: 'error-text', cell: (j) => j.error ?? '' },
    {
      header: 'Actions',
      hideHeader: true,
      shown: canOperate,
      cell: (j) =>
        j.state === 'failed' && (
          <button type="button" class="small" onClick={() => void retry(j)} aria-label={`Retry ${j.kind} of ${j.container ?? j.image}`}>
            Retry
          </button>
        ),
    },
  ];
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
          <DataTable
            columns={columns}
            rows={data.jobs}
            rowKey={(j) => j.id}
            rowAttributes={(j) => ({ 'data-job': j.id })}
            empty={`No jobs${state ? ` in state ${state}` : ''}.`}
          />
        </div>
      )}
    </section>
  );
}
