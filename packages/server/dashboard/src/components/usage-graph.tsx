import { useEffect, useState } from 'preact/hooks';
import type { ContainerStatsView, ContainerView } from '@nagaya/contract';
import { ApiError, get } from '../api';
import { bytes } from '../format';
import { inProject } from '../project';
import { addReading, scaleTop, sparkline, type UsagePoint } from '../usage-model';

/** How often the graph reads the container's stats while the page is open. */
const READ_EVERY_MS = 2_000;
const WIDTH = 300;
const HEIGHT = 60;

/** One sparkline with its title, current value and scale. */
function Sparkline(props: { label: string; testId: string; points: string; now: string; top: string }) {
  return (
    <figure class="usage-graph" data-testid={props.testId}>
      <figcaption>
        {props.label} <strong>{props.now}</strong> <span class="muted">of {props.top}</span>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width={WIDTH} height={HEIGHT} role="img" aria-label={`${props.label} over the last minutes`}>
        <rect x="0" y="0" width={WIDTH} height={HEIGHT} class="usage-frame" />
        {props.points && <polyline points={props.points} class="usage-line" />}
      </svg>
    </figure>
  );
}

/** Memory and CPU of a running container over the last minutes, read every 2 s while the page is open. */
export function UsageGraph(props: { container: ContainerView }) {
  const { name, project, state } = props.container;
  const running = state === 'running';
  const [points, setPoints] = useState<UsagePoint[]>([]);
  const [last, setLast] = useState<ContainerStatsView | undefined>(undefined);
  const [error, setError] = useState('');

  useEffect(() => {
    if (!running) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let previous: ContainerStatsView | undefined;
    const read = async () => {
      try {
        const reading = await get<ContainerStatsView>(inProject(`/containers/${encodeURIComponent(name)}/stats`, project));
        if (stopped) return;
        setPoints((p) => addReading(p, previous, reading));
        previous = reading;
        setLast(reading);
        setError('');
      } catch (err) {
        if (stopped) return;
        // gone (404): the container's own poll shows it; stop asking
        if (err instanceof ApiError && err.status === 404) return;
        // not running at this moment (409, a read crossing a stop or restart): the page's own poll
        // shows the state, and this effect ends when it does; a restart quick enough not to show resumes here
        if (!(err instanceof ApiError && err.status === 409)) setError(err instanceof Error ? err.message : String(err));
      }
      if (!stopped) timer = setTimeout(() => void read(), document.hidden ? READ_EVERY_MS * 5 : READ_EVERY_MS);
    };
    void read();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [name, project, running]);

  if (!running) return null;
  const memory = (p: UsagePoint) => p.memoryBytes;
  const cpu = (p: UsagePoint) => p.cpuPercent;
  const memoryTop = scaleTop(points, memory, last?.memoryLimitBytes ?? null, 16 * 1024 * 1024);
  const cpuTop = scaleTop(points, cpu, props.container.limits?.cpus ? props.container.limits.cpus * 100 : null, 100);
  const cpuNow = points.at(-1)?.cpuPercent;
  return (
    <>
      <h2>Usage</h2>
      {error && (
        <div class="banner error" role="status">
          Could not read the usage: {error}
        </div>
      )}
      <div class="usage" aria-live="off">
        <Sparkline
          label="Memory"
          testId="usage-memory"
          points={sparkline(points, memory, { width: WIDTH, height: HEIGHT, max: memoryTop })}
          now={last?.memoryBytes != null ? bytes(last.memoryBytes) : '—'}
          top={bytes(memoryTop)}
        />
        <Sparkline
          label="CPU"
          testId="usage-cpu"
          points={sparkline(points, cpu, { width: WIDTH, height: HEIGHT, max: cpuTop })}
          now={cpuNow != null ? `${cpuNow.toFixed(1)}%` : '—'}
          top={`${cpuTop.toFixed(0)}%`}
        />
        <dl class="facts usage-facts">
          <dt>Peak memory</dt>
          <dd>{last?.memoryPeakBytes != null ? bytes(last.memoryPeakBytes) : '—'}</dd>
          <dt>CPU time</dt>
          <dd>{last?.cpuSeconds != null ? `${last.cpuSeconds.toFixed(2)} s` : '—'}</dd>
          <dt>Processes</dt>
          <dd data-testid="usage-pids">
            {last?.pids ?? '—'}
            {last?.pidsLimit ? ` of ${last.pidsLimit}` : ''}
          </dd>
          <dt>Writable layer</dt>
          <dd>{last?.writableLayerBytes != null ? bytes(last.writableLayerBytes) : '—'}</dd>
        </dl>
      </div>
    </>
  );
}
