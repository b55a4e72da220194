import { useState } from 'preact/hooks';
import { del, describeError, get } from '../api';
import { ConfirmButton, ErrorBanner, Loading, PageHeader, ProjectTag, StateBadge } from '../components/common';
import { type Column, DataTable } from '../components/data-table';
import { ageOf, bytes, joinArgs, when } from '../format';
import { notify } from '../notices';
import { RUN_EVENTS } from '../live-events';
import { usePoll } from '../poll';
import { inProject, projectOf, useProjectScope } from '../project';
import { navigate } from '../router';
import { useCanOperate } from '../session';
import type { RunOutputView, RunScheduleView, RunView } from '@nagaya/contract';

const STATES = ['', 'queued', 'running', 'succeeded', 'failed', 'timedOut', 'cancelled'] as const;

/** How a run ended, in a few words. */
function ended(r: RunView): string {
  if (r.state === 'timedOut') return `after ${r.timeoutSeconds}s`;
  if (r.exitCode !== null) return `exit ${r.exitCode}`;
  if (r.signal) return r.signal;
  return r.error ? r.error.code : '';
}

/** One run's output, read when its row is opened (and again on each refresh while it runs). */
function RunOutput(props: { run: RunView; project: string }) {
  const { data, error } = usePoll(
    () => get<RunOutputView>(inProject(`/runs/${props.run.id}/output`, props.project)),
    `run-output:${props.run.id}:${props.run.state}`,
    // a finished run's output does not change: asked again only rarely
    props.run.state === 'running' ? 1000 : 60_000,
  );
  if (error) return <ErrorBanner error={error} prefix="Could not load the output" />;
  if (!data) return <Loading />;
  return (
    <div class="run-output">
      <h3>
        stdout{' '}
        <span class="muted">
          {bytes(data.stdoutBytes)}
          {data.stdoutTruncated ? ', truncated' : ''}
        </span>
      </h3>
      <pre>{data.stdout || '(empty)'}</pre>
      <h3>
        stderr{' '}
        <span class="muted">
          {bytes(data.stderrBytes)}
          {data.stderrTruncated ? ', truncated' : ''}
        </span>
      </h3>
      <pre>{data.stderr || '(empty)'}</pre>
    </div>
  );
}

/** Runs of the project in view (or every project): filters by state, output, cancel; and the schedules. */
export function RunsPage(props: { state: string }) {
  const canOperate = useCanOperate();
  const { current } = useProjectScope();
  const state = (STATES as readonly string[]).includes(props.state) ? props.state : '';
  const [open, setOpen] = useState<string | null>(null);
  const runs = usePoll(
    () => get<{ runs: RunView[] }>(inProject(`/runs?limit=200${state ? `&state=${state}` : ''}`, current)),
    `runs:${state}`,
    2000,
    RUN_EVENTS,
  );
  const schedules = usePoll(() => get<{ schedules: RunScheduleView[] }>(inProject('/runs/schedules', current)), 'run-schedules', 5000);
  const cancel = async (r: RunView) => {
    try {
      await del(inProject(`/runs/${r.id}`, projectOf(r.project, current)));
      notify(`run ${r.id.slice(0, 8)} cancelled`);
    } catch (err) {
      notify(`cancel of ${r.id} failed: ${describeError(err)}`, 'error');
    }
    runs.refresh();
  };
  const unschedule = async (s: RunScheduleView) => {
    try {
      await del(inProject(`/runs/schedules/${s.id}`, projectOf(s.project, current)));
      notify(`schedule ${s.id} removed`);
    } catch (err) {
      notify(`removing ${s.id} failed: ${describeError(err)}`, 'error');
    }
    schedules.refresh();
  };
  const runColumns: Column<RunView>[] = [
    {
      header: 'Run',
      title: (r) => r.id,
      cell: (r) => (
        <button type="button" class="link" aria-expanded={open === r.id} onClick={() => setOpen(open === r.id ? null : r.id)}>
          {r.id.slice(0, 8)}
        </button>
      ),
    },
    { header: 'Project', shown: current === null, cell: (r) => <ProjectTag name={r.project} /> },
    { header: 'Image', cell: (r) => r.image },
    { header: 'Command', className: 'mono', cell: (r) => joinArgs(r.command).slice(0, 60) },
    {
      header: 'State',
      cell: (r) => (
        <>
          <StateBadge state={r.state} />
          {r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}
        </>
      ),
    },
    { header: 'Ended', cell: ended },
    { header: 'Node', cell: (r) => r.node ?? '—' },
    { header: 'Age', title: (r) => when(r.createdAt), cell: (r) => ageOf(r.createdAt) },
    {
      header: 'Actions',
      hideHeader: true,
      cell: (r) =>
        canOperate &&
        (r.state === 'queued' || r.state === 'running') && (
          <ConfirmButton
            small
            danger
            label="Cancel"
            title={`Cancel run ${r.id.slice(0, 8)}`}
            message={r.state === 'running' ? 'Its process is killed at once and its container removed.' : 'It leaves the queue.'}
            confirmLabel="Cancel the run"
            onConfirm={() => cancel(r)}
          />
        ),
    },
  ];
  const scheduleColumns: Column<RunScheduleView>[] = [
    { header: 'Schedule', cell: (s) => s.id },
    { header: 'Project', shown: current === null, cell: (s) => <ProjectTag name={s.project} /> },
    { header: 'Pattern', className: 'mono', cell: (s) => s.pattern },
    { header: 'Image', cell: (s) => s.image },
    { header: 'Command', className: 'mono', cell: (s) => joinArgs(s.command).slice(0, 60) },
    { header: 'Next', title: (s) => when(s.next), cell: (s) => (s.next ? when(s.next) : '—') },
    {
      header: 'Actions',
      hideHeader: true,
      cell: (s) =>
        canOperate && (
          <ConfirmButton
            small
            danger
            label="Remove"
            title={`Remove schedule ${s.id}`}
            message="No more runs are submitted by it; the runs it made stay."
            confirmLabel="Remove"
            onConfirm={() => unschedule(s)}
          />
        ),
    },
  ];
  return (
    <section>
      <PageHeader title="Runs" updatedAt={runs.updatedAt} />
      <fieldset class="tabs" aria-label="Show runs in state">
        {STATES.map((s) => (
          <button key={s} type="button" aria-pressed={s === state} onClick={() => navigate(s ? `/runs?state=${s}` : '/runs', true)}>
            {s || 'all'}
          </button>
        ))}
      </fieldset>
      <ErrorBanner error={runs.error} prefix="Could not load runs" />
      {!runs.data ? (
        !runs.error && <Loading />
      ) : (
        <div class="table-wrap">
          <DataTable
            columns={runColumns}
            rows={runs.data.runs}
            rowKey={(r) => r.id}
            rowAttributes={(r) => ({ 'data-run': r.id })}
            detail={(r) => (open === r.id ? { content: <RunOutput run={r} project={projectOf(r.project, current)} /> } : null)}
            empty={`No runs${state ? ` in state ${state}` : ''}.`}
          />
        </div>
      )}
      <h2>Schedules</h2>
      <ErrorBanner error={schedules.error} prefix="Could not load schedules" />
      {schedules.data && (
        <div class="table-wrap">
          <DataTable
            columns={scheduleColumns}
            rows={schedules.data.schedules}
            rowKey={(s) => s.id}
            empty="No schedules (POST /runs with a cron schedule, or nagaya run --schedule)."
          />
        </div>
      )}
    </section>
  );
}
