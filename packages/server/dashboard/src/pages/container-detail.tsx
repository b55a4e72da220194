import { useEffect, useState } from 'preact/hooks';
import { ApiError, describeError, followEvents, get, post } from '../api';
import { ErrorBanner, Link, Loading, PageHeader, ProjectTag, StateBadge } from '../components/common';
import { ContainerActions } from '../components/container-actions';
import { ContainerEnv } from '../components/container-env';
import { type Column, DataTable } from '../components/data-table';
import { TerminalPanel } from '../components/terminal-panel';
import { UsageGraph } from '../components/usage-graph';
import { ageOf, bytes, joinArgs, kernelMapLine, splitArgs, when } from '../format';
import { usePoll } from '../poll';
import type { LiveEvent } from '../live-events';
import { inProject } from '../project';
import { useCanOperate } from '../session';
import {
  lastExitText,
  restartPolicyText,
  stopText,
  type ContainerNetworkView,
  type ContainerView,
  type ExecResult,
  type JobView,
} from '@nagaya/contract';

/** A container's network: its mode, its address while it holds one, and its published ports. */
function NetworkFacts(props: { network: ContainerNetworkView | undefined }) {
  const n = props.network;
  if (!n || n.mode === 'none') return <>none (loopback only)</>;
  return (
    <>
      bridge{' '}
      {n.ip ? (
        <span class="mono">
          {n.ip} via {n.gateway} on {n.bridge}, mac {n.mac}
        </span>
      ) : (
        <span class="muted">no address while not running</span>
      )}
      {n.publish.map((p) => (
        <div class="mono" key={`${p.hostIp ?? ''}:${p.hostPort}/${p.protocol}`}>
          {p.hostIp ?? '0.0.0.0'}:{p.hostPort} → {p.containerPort}/{p.protocol}
        </div>
      ))}
    </>
  );
}

const JOB_COLUMNS: Column<JobView>[] = [
  { header: 'Kind', cell: (j) => j.kind },
  { header: 'State', cell: (j) => <StateBadge state={j.state} /> },
  { header: 'Age', title: (j) => when(j.createdAt), cell: (j) => ageOf(j.createdAt) },
  { header: 'Error', className: 'error-text', cell: (j) => j.error ?? '' },
];

/** One container of a project: state, pid, map lines as the kernel sees them, limits, env, jobs, log tail, exec and a terminal. */
export function ContainerDetailPage(props: { name: string; project: string }) {
  const path = inProject(`/containers/${encodeURIComponent(props.name)}`, props.project);
  // Its own events only; and not its deletion, after which a read would only find it gone.
  const ownEvents = (e: LiveEvent) => e.project === props.project && e.container === props.name && e.type !== 'container.deleted';
  const container = usePoll(() => get<ContainerView>(path), `c:${props.name}`, 2000, ownEvents);
  const jobs = usePoll(
    () => get<{ jobs: JobView[] }>(inProject(`/jobs?container=${encodeURIComponent(props.name)}&limit=10`, props.project)),
    `j:${props.name}`,
    3000,
    ownEvents,
  );
  const c = container.data;
  const gone = container.error instanceof ApiError && container.error.code === 'NOT_FOUND';
  return (
    <section>
      <PageHeader title={`Container ${props.name}`} updatedAt={container.updatedAt}>
        <Link class="button" href="/containers">
          All containers
        </Link>
      </PageHeader>
      {gone ? (
        <div class="banner" role="status">
          There is no container {props.name} in project {props.project} (any more). <Link href="/containers">Back to the list</Link>
        </div>
      ) : (
        <ErrorBanner error={container.error} prefix="Could not load the container" />
      )}
      {!c ? (
        !container.error && <Loading />
      ) : (
        <>
          <div class="detail-top">
            <dl class="facts">
              <dt>Project</dt>
              <dd>
                <ProjectTag name={c.project} />
              </dd>
              <dt>State</dt>
              <dd>
                <StateBadge state={c.state} lastState={c.lastState} />{' '}
                {c.exitCode !== null && <span class="muted">exit code {c.exitCode}</span>}{' '}
                {c.exitSignal && <span class="muted">signal {c.exitSignal}</span>}
              </dd>
              <dt>Node</dt>
              <dd>{c.node}</dd>
              <dt>Host pid</dt>
              <dd class="mono" data-testid="pid">
                {c.pid ?? '—'}
              </dd>
              <dt>Image</dt>
              <dd>{c.image}</dd>
              <dt>Command</dt>
              <dd class="mono">{joinArgs(c.command)}</dd>
              <dt>Created</dt>
              <dd title={when(c.createdAt)}>{ageOf(c.createdAt)} ago</dd>
              <dt>Started</dt>
              <dd title={when(c.startedAt)}>{c.startedAt ? `${ageOf(c.startedAt)} ago` : '—'}</dd>
              <dt>Restart policy</dt>
              <dd data-testid="restart-policy">
                <span class="mono">{restartPolicyText(c.restartPolicy)}</span>
                <span class="muted" data-testid="restart-count">
                  {' '}
                  {c.restartCount === 1 ? '1 restart' : `${c.restartCount} restarts`} by it
                </span>
              </dd>
              <dt>Last exit</dt>
              <dd data-testid="last-exit">
                {c.lastExit ? (
                  <>
                    {lastExitText(c.lastExit)}{' '}
                    <span class="muted" title={when(c.lastExit.finishedAt)}>
                      ({ageOf(c.lastExit.finishedAt)} ago)
                    </span>
                  </>
                ) : (
                  '—'
                )}
              </dd>
              <dt>Init</dt>
              <dd data-testid="init">{c.init ? 'tini as PID 1 (forwards signals, reaps zombies)' : 'none: the command is PID 1'}</dd>
              <dt>Stop</dt>
              <dd data-testid="stop">{stopText(c.stopSignal, c.stopTimeoutSeconds)}</dd>
              <dt>Limits</dt>
              <dd>{limitsText(c.limits)}</dd>
              <dt>ID map</dt>
              <dd>
                {c.idmap.isolated ? 'isolated' : 'shared slice'}
                {c.idmap.size ? `, ${c.idmap.size} IDs` : ''}
                {c.idmap.key ? `, key ${c.idmap.key}` : ''}
              </dd>
              <dt>Network</dt>
              <dd data-testid="network">
                <NetworkFacts network={c.network} />
              </dd>
              <dt>Mounts</dt>
              <dd data-testid="mounts">
                {(c.mounts ?? []).length === 0
                  ? '—'
                  : c.mounts.map((m) => (
                      <div class="mono" key={m.path}>
                        {'volume' in m ? `volume ${m.volume}` : `host ${m.hostPath}${m.shift ? ' (shifted)' : ''}`} → {m.path}
                        {m.readOnly ? ' (read-only)' : ''}
                      </div>
                    ))}
              </dd>
            </dl>
            <ContainerActions
              container={c}
              onDone={() => {
                container.refresh();
                jobs.refresh();
              }}
              afterDelete="/containers"
            />
          </div>
          {c.error && (
            <div class="banner error" role="status">
              Last error: {c.error.message} ({c.error.code}
              {c.error.step ? `, step ${c.error.step}` : ''})
            </div>
          )}
          <div class="grid-2">
            <section aria-label="uid_map as the kernel shows it">
              <h2>uid_map</h2>
              <pre class="mapfile" data-testid="uid-map">
                {c.idmap.uid.length ? c.idmap.uid.map(kernelMapLine).join('\n') : 'no slice'}
              </pre>
            </section>
            <section aria-label="gid_map as the kernel shows it">
              <h2>gid_map</h2>
              <pre class="mapfile" data-testid="gid-map">
                {c.idmap.gid.length ? c.idmap.gid.map(kernelMapLine).join('\n') : 'no slice'}
              </pre>
            </section>
          </div>
          <ContainerEnv container={c} />
          <UsageGraph container={c} />
          <ExecBox container={c} />
          <TerminalPanel container={c} />
          <LogTail container={c} />
          <h2>Jobs</h2>
          <ErrorBanner error={jobs.error} />
          <div class="table-wrap">
            <DataTable columns={JOB_COLUMNS} rows={jobs.data?.jobs ?? []} rowKey={(j) => j.id} />
          </div>
        </>
      )}
    </section>
  );
}

function limitsText(l: ContainerView['limits']): string {
  const parts = [
    l?.memoryBytes !== undefined ? `memory ${bytes(l.memoryBytes)}` : '',
    l?.pids !== undefined ? `${l.pids} processes` : '',
    l?.cpus !== undefined ? `${l.cpus} CPUs` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : 'none';
}

/** The console log: followed live (Server-Sent Events) while the container runs, else its last lines. */
function LogTail(props: { container: ContainerView }) {
  const { name, project, state } = props.container;
  const [timestamps, setTimestamps] = useState(false);
  return (
    <>
      <h2>Log tail</h2>
      <label class="log-times">
        <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.currentTarget.checked)} /> Times (when the node saw
        each line)
      </label>
      {state === 'running' ? (
        <FollowedLog name={name} project={project} timestamps={timestamps} />
      ) : (
        <PolledLog container={props.container} timestamps={timestamps} />
      )}
    </>
  );
}

/** Lines kept on the page while following: the oldest go first. */
const FOLLOWED_LINES = 2000;

/** Follows the log of a running container; a dropped stream resumes where it stopped (Last-Event-ID). */
function FollowedLog(props: { name: string; project: string; timestamps: boolean }) {
  const { name, project, timestamps } = props;
  const [lines, setLines] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const stop = new AbortController();
    let lastId: string | undefined;
    setLines([]);
    const path = inProject(`/containers/${encodeURIComponent(name)}/logs?follow=1&tail=200${timestamps ? '&timestamps=1' : ''}`, project);
    void (async () => {
      while (!stop.signal.aborted) {
        try {
          await followEvents(
            path,
            (e) => {
              if (e.event !== undefined) return; // "end": the container exited, and the stream ends with it
              lastId = e.id;
              setLines((kept) => [...(kept.length >= FOLLOWED_LINES ? kept.slice(1 - FOLLOWED_LINES) : kept), e.data]);
            },
            stop.signal,
            lastId,
          );
          setError(null);
          return;
        } catch (err) {
          if (stop.signal.aborted) return;
          setError(err);
          await new Promise((resume) => setTimeout(resume, 2000));
        }
      }
    })();
    return () => stop.abort();
  }, [name, project, timestamps]);
  return (
    <>
      <ErrorBanner error={error} prefix="Could not follow the log" />
      <section aria-label={`Console log of ${name}`}>
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls inside a fixed height, and a scrolling box must take focus for keyboard users to scroll it */}
        <pre class="log" tabIndex={0} data-testid="log" data-following="true">
          {lines.length ? `${lines.join('\n')}\n` : <span class="muted">(empty)</span>}
        </pre>
      </section>
    </>
  );
}

/** The last lines of a container that does not run, refreshed while the page is open. */
function PolledLog(props: { container: ContainerView; timestamps: boolean }) {
  const { name, project } = props.container;
  const live = props.container.state !== 'pending' && props.container.state !== 'deleting';
  const logs = usePoll(
    async () =>
      live
        ? get<{ log: string; truncated: boolean }>(
            inProject(`/containers/${encodeURIComponent(name)}/logs?tail=1000${props.timestamps ? '&timestamps=1' : ''}`, project),
          )
        : undefined,
    `logs:${name}:${live}:${props.timestamps}`,
    3000,
  );
  return (
    <>
      <ErrorBanner error={logs.error} prefix="Could not read the log" />
      <section aria-label={`Console log of ${name}`}>
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls inside a fixed height, and a scrolling box must take focus for keyboard users to scroll it */}
        <pre class="log" tabIndex={0} data-testid="log">
          {logs.data?.truncated ? '…\n' : ''}
          {logs.data?.log || <span class="muted">(empty)</span>}
        </pre>
      </section>
    </>
  );
}

/** Runs one command in the running container (operators only) and shows exit code, stdout and stderr. */
function ExecBox(props: { container: ContainerView }) {
  const canOperate = useCanOperate();
  const [line, setLine] = useState('id');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ExecResult | null>(null);
  const [error, setError] = useState('');
  if (!canOperate) return null;
  const running = props.container.state === 'running';
  const run = async (e: Event) => {
    e.preventDefault();
    const argv = splitArgs(line);
    if (!argv.length) return;
    setBusy(true);
    setError('');
    setResult(null);
    try {
      const c = props.container;
      setResult(await post<ExecResult>(inProject(`/containers/${encodeURIComponent(c.name)}/exec`, c.project), { command: argv }));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h2>Exec</h2>
      <form class="exec" onSubmit={(e) => void run(e)}>
        <label for="exec-command">Command</label>
        <input id="exec-command" class="mono" value={line} onInput={(e) => setLine(e.currentTarget.value)} disabled={!running} />
        <button type="submit" class="primary" disabled={!running || busy}>
          {busy ? 'Running…' : 'Run'}
        </button>
        {!running && <span class="muted">the container is not running</span>}
      </form>
      {error && (
        <div class="banner error" role="alert">
          {error}
        </div>
      )}
      {result && (
        <div class="exec-result" role="status" data-testid="exec-result">
          <p>
            exit code <strong data-testid="exec-exit">{result.exitCode}</strong>
          </p>
          <section aria-label="stdout">
            <pre class="log" data-testid="exec-stdout">
              {result.stdout || ' '}
            </pre>
          </section>
          {result.stderr && (
            <section aria-label="stderr">
              <pre class="log stderr">{result.stderr}</pre>
            </section>
          )}
        </div>
      )}
    </>
  );
}
