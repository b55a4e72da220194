import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get } from '../api';
import { ErrorBanner, Link, Loading, PageHeader, ProjectTag } from '../components/common';
import { ageOf, range } from '../format';
import { usePoll } from '../poll';
import { SLICE_EVENTS } from '../live-events';
import { containerHref, inProject, projectOf, useProjectScope } from '../project';
import { faded, projectColour } from '../project-colours';
import { navigate } from '../router';
import { buildSlotModel, cellRanges, CellState, LEGEND, type SlotModel } from '../slot-model';
import type { AllocationView, PoolView } from '@nagaya/contract';

const COLOR = new Map(LEGEND.map((l) => [l.state, l.color]));

/** '#rrggbb' as the little-endian RGBA word ImageData stores (opaque). */
function abgr(hex: string): number {
  const n = parseInt(hex.slice(1), 16);
  return ((0xff << 24) | ((n & 0xff) << 16) | (n & 0xff00) | ((n >> 16) & 0xff)) >>> 0;
}
const LABEL = new Map(LEGEND.map((l) => [l.state, l.label]));

/** Colour by state (active, quarantined, …) or, for slices held by a container, by the container's project. */
type ColourBy = 'state' | 'project';

/** What the map draws: one colour per cell, and the legend that explains them. */
interface Painting {
  /** Each cell's colour as an ImageData word. */
  words: Uint32Array;
  /** Each cell's colour as '#rrggbb' (the tooltip's swatch). */
  hex: string[];
  states: Array<{ state: CellState; label: string; color: string; hint: string; count: number }>;
  projects: Array<{ name: string; color: string; count: number }>;
}

/**
 * Colours every cell. By project, a slice held by a container (active) takes its project's colour;
 * every other state keeps its own, so quarantined or out-of-pool slots still stand out. With a
 * project filter, what other projects hold is faded, never hidden: the slot is not free.
 */
function paint(model: SlotModel, colourBy: ColourBy, filter: string): Painting {
  const words = new Uint32Array(model.count);
  const hex: string[] = new Array(model.count);
  const stateCounts = new Map<CellState, number>();
  const projectCounts = new Map<string, number>();
  const word = new Map<string, number>();
  const wordOf = (h: string) => {
    const known = word.get(h);
    if (known !== undefined) return known;
    const w = abgr(h);
    word.set(h, w);
    return w;
  };
  for (let i = 0; i < model.count; i++) {
    const state = model.states[i] as CellState;
    const project = model.owner[i]! >= 0 ? model.allocations[model.owner[i]!]!.project : null;
    let colour: string;
    if (colourBy === 'project' && state === CellState.active && project) {
      colour = projectColour(project);
      projectCounts.set(project, (projectCounts.get(project) ?? 0) + 1);
    } else {
      colour = COLOR.get(state)!;
      stateCounts.set(state, (stateCounts.get(state) ?? 0) + 1);
    }
    if (filter && project && project !== filter) colour = faded(colour);
    hex[i] = colour;
    words[i] = wordOf(colour);
  }
  return {
    words,
    hex,
    // "Not in pool" only where the pool has gaps; by project, "Active" only for a slice whose container is gone
    states: LEGEND.filter(
      (l) => (l.state !== CellState.outside && (colourBy === 'state' || l.state !== CellState.active)) || stateCounts.get(l.state),
    ).map((l) => ({ ...l, count: stateCounts.get(l.state) ?? 0 })),
    projects: [...projectCounts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, count]) => ({ name, color: projectColour(name), count })),
  };
}

/**
 * The ID-space map: every slot of a pool as a canvas cell, coloured by state or by project; hover,
 * keys and click. It shows the slices of the project in view; with every project in view it can
 * colour them by project and single one project out.
 */
export function IdMapPage(props: { pool: string | null }) {
  const { current } = useProjectScope();
  const pools = usePoll(() => get<{ pools: PoolView[] }>('/pools'), 'pools', 10_000, SLICE_EVENTS);
  const poolName = props.pool ?? pools.data?.pools.find((p) => p.name === 'default')?.name ?? pools.data?.pools[0]?.name ?? null;
  const allocations = usePoll(
    async () =>
      poolName
        ? get<{ allocations: AllocationView[] }>(inProject(`/allocations?pool=${encodeURIComponent(poolName)}&history=true`, current))
        : undefined,
    `alloc:${poolName}`,
    2000,
    SLICE_EVENTS,
  );
  const pool = pools.data?.pools.find((p) => p.name === poolName);
  const model = useMemo(
    () => (pool && allocations.data ? buildSlotModel(pool, allocations.data.allocations) : undefined),
    [pool, allocations.data],
  );

  return (
    <section>
      <PageHeader title="ID-space map" updatedAt={allocations.updatedAt}>
        {(pools.data?.pools.length ?? 0) > 1 && (
          <span class="inline-field">
            <label for="pool-select">Pool</label>
            <select
              id="pool-select"
              value={poolName ?? ''}
              onChange={(e) => navigate(`/map?pool=${encodeURIComponent(e.currentTarget.value)}`)}
            >
              {pools.data!.pools.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                </option>
              ))}
            </select>
          </span>
        )}
      </PageHeader>
      <ErrorBanner error={pools.error ?? allocations.error} prefix="Could not load the map" />
      {current !== null && (
        <p class="banner" data-testid="map-scope">
          Only the slices of project <strong>{current}</strong> are shown: slots other projects hold are drawn as free.
        </p>
      )}
      {pools.data && !pool && <p class="banner">There is no pool {props.pool ?? ''}.</p>}
      {!model ? !pools.error && !allocations.error && <Loading /> : <SlotMap model={model} />}
    </section>
  );
}

function SlotMap(props: { model: SlotModel }) {
  const { model } = props;
  const pool = model.pool;
  const scope = useProjectScope();
  const everyProject = scope.current === null;
  const [colourBy, setColourBy] = useState<ColourBy>(everyProject ? 'project' : 'state');
  const [filter, setFilter] = useState('');
  const painting = useMemo(() => paint(model, colourBy, filter), [model, colourBy, filter]);
  const filterChoices = [
    ...new Set([...(scope.projects ?? []).map((p) => p.name), ...painting.projects.map((p) => p.name), ...(filter ? [filter] : [])]),
  ].sort();
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  const [hover, setHover] = useState<{ cell: number; x: number; y: number } | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [find, setFind] = useState('');
  const [findMessage, setFindMessage] = useState('');

  useLayoutEffect(() => {
    const el = wrap.current!;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);

  // Cells as big as fit the width and ~560 px of height; at least 3 px.
  const cellPx = width ? Math.max(3, Math.min(36, Math.floor(Math.sqrt((width * 560) / Math.max(1, model.count))))) : 0;
  const cols = cellPx ? Math.max(1, Math.floor(width / cellPx)) : 1;
  const rows = Math.ceil(model.count / cols);
  const gap = cellPx >= 6 ? 1 : 0;

  useEffect(() => {
    const c = canvas.current;
    if (!c || !cellPx) return;
    const started = performance.now();
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.ceil(cols * cellPx * dpr);
    c.height = Math.ceil(rows * cellPx * dpr);
    c.style.width = `${cols * cellPx}px`;
    c.style.height = `${rows * cellPx}px`;
    const ctx = c.getContext('2d')!;
    // Cells are written straight into one ImageData (a few ms for 15,000 cells, even without a
    // GPU), then the hover and selection outlines are stroked on top.
    const w = c.width;
    const image = ctx.createImageData(w, c.height);
    const pixels = new Uint32Array(image.data.buffer);
    const colours = painting.words;
    const edge = (v: number) => Math.round(v * dpr);
    for (let i = 0; i < model.count; i++) {
      const col = i % cols;
      const row = (i - col) / cols;
      const x0 = edge(col * cellPx);
      const x1 = Math.max(x0 + 1, edge((col + 1) * cellPx - gap));
      const y0 = edge(row * cellPx);
      const y1 = Math.max(y0 + 1, edge((row + 1) * cellPx - gap));
      const colour = colours[i]!;
      for (let y = y0; y < y1; y++) pixels.fill(colour, y * w + x0, y * w + x1);
    }
    ctx.putImageData(image, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    for (const [cell, style] of [
      [selected, '#111827'],
      [hover?.cell ?? null, '#111827'],
    ] as const) {
      if (cell === null || cell >= model.count) continue;
      ctx.lineWidth = Math.max(1, Math.min(2, cellPx / 4));
      ctx.strokeStyle = style;
      ctx.strokeRect(
        (cell % cols) * cellPx + 0.5,
        Math.floor(cell / cols) * cellPx + 0.5,
        Math.max(1, cellPx - gap - 1),
        Math.max(1, cellPx - gap - 1),
      );
    }
    c.dataset.drawMs = (performance.now() - started).toFixed(1);
  }, [model, painting, cols, rows, cellPx, gap, selected, hover?.cell]);

  const cellAt = (event: MouseEvent): number | null => {
    const rect = canvas.current!.getBoundingClientRect();
    const col = Math.floor((event.clientX - rect.left) / cellPx);
    const row = Math.floor((event.clientY - rect.top) / cellPx);
    if (col < 0 || col >= cols || row < 0) return null;
    const cell = row * cols + col;
    return cell < model.count ? cell : null;
  };
  const allocationOf = (cell: number) => (model.owner[cell]! >= 0 ? model.allocations[model.owner[cell]!] : undefined);
  const open = (cell: number) => {
    const a = allocationOf(cell);
    if (a?.container && (a.state === 'active' || a.state === 'out_of_pool' || a.kind === 'raw'))
      navigate(containerHref(a.container, projectOf(a.project, scope.current)));
  };
  const onKey = (e: KeyboardEvent) => {
    const cur = selected ?? 0;
    const moves: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: cols,
      ArrowUp: -cols,
      PageDown: cols * 10,
      PageUp: -cols * 10,
    };
    if (e.key in moves) {
      setSelected(Math.max(0, Math.min(model.count - 1, cur + moves[e.key]!)));
      e.preventDefault();
    } else if (e.key === 'Home' || e.key === 'End') {
      setSelected(e.key === 'Home' ? 0 : model.count - 1);
      e.preventDefault();
    } else if (e.key === 'Enter' && selected !== null) {
      open(selected);
    }
  };
  const onFind = (e: Event) => {
    e.preventDefault();
    const name = find.trim();
    const index = model.allocations.findIndex((a) => a.state !== 'quarantined' && (a.container === name || a.sharedBy?.includes(name)));
    const cell = index < 0 ? -1 : (Array.prototype.indexOf.call(model.owner, index) as number);
    if (cell < 0) {
      setFindMessage(`No slot of this pool is held by ${name}.`);
      return;
    }
    setFindMessage('');
    setSelected(cell);
    canvas.current?.focus();
  };

  const shown = selected ?? hover?.cell ?? null;
  const size = pool.sliceSize;
  return (
    <>
      <p class="summary">
        Pool <strong>{pool.name}</strong> ({pool.source}): host uids {pool.uid.map((r) => range(r.start, r.count)).join(', ')},{' '}
        {model.count} slots of {size} IDs from origin {pool.uidOrigin}; released slices rest {pool.quarantineSeconds}s.
      </p>
      {everyProject && (
        <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Colours and filter">
          <label>
            Colour by
            <select value={colourBy} onChange={(e) => setColourBy(e.currentTarget.value as ColourBy)}>
              <option value="project">project</option>
              <option value="state">state</option>
            </select>
          </label>
          <label>
            Show project
            <select value={filter} onChange={(e) => setFilter(e.currentTarget.value)}>
              <option value="">every project</option>
              {filterChoices.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          {filter && <span class="muted">other projects' slices are faded</span>}
        </form>
      )}
      <ul class="legend" aria-label="Legend and counts">
        {painting.projects.map((p) => (
          <li key={`p:${p.name}`} title={`active slices of project ${p.name}`} data-project={p.name} data-colour={p.color}>
            <span class="swatch" style={{ background: filter && filter !== p.name ? faded(p.color) : p.color }} aria-hidden="true" />
            project {p.name} <strong>{p.count}</strong>
          </li>
        ))}
        {painting.states.map((l) => (
          <li key={l.state} title={l.hint} data-state={l.label}>
            <span class="swatch" style={{ background: l.color }} aria-hidden="true" />
            {l.label} <strong>{l.count}</strong>
          </li>
        ))}
      </ul>
      <search>
        <form class="filters" onSubmit={onFind}>
          <label for="map-find">Find a container</label>
          <input id="map-find" value={find} placeholder="name" onInput={(e) => setFind(e.currentTarget.value)} />
          <button type="submit">Show its slot</button>
          <span class="muted" role="status">
            {findMessage}
          </span>
        </form>
      </search>
      <div class="map-wrap" ref={wrap}>
        <canvas
          ref={canvas}
          class="slot-map"
          tabIndex={0}
          role="img"
          aria-label={`Slots of pool ${pool.name}: ${LEGEND.map((l) => `${model.counts[l.state]} ${l.label.toLowerCase()}`).join(', ')}. Arrow keys move between slots, Enter opens the container.`}
          aria-describedby="slot-detail"
          data-cols={cols}
          data-cell={cellPx}
          data-first-slot={model.first}
          data-count={model.count}
          onMouseMove={(e) => {
            const cell = cellAt(e);
            const rect = wrap.current!.getBoundingClientRect();
            setHover(cell === null ? null : { cell, x: e.clientX - rect.left, y: e.clientY - rect.top });
          }}
          onMouseLeave={() => setHover(null)}
          onClick={(e) => {
            const cell = cellAt(e);
            if (cell !== null) {
              setSelected(cell);
              open(cell);
            }
          }}
          onKeyDown={onKey}
          style={{ cursor: hover && allocationOf(hover.cell)?.container ? 'pointer' : 'default' }}
        />
        {hover && (
          <div
            class="map-tip"
            role="tooltip"
            id="map-tip"
            style={{ left: `${Math.min(hover.x + 14, Math.max(0, width - 280))}px`, top: `${hover.y + 14}px` }}
          >
            <CellText model={model} cell={hover.cell} colour={painting.hex[hover.cell]!} />
          </div>
        )}
      </div>
      <div id="slot-detail" class="slot-detail" aria-live="polite">
        {shown === null ? (
          <p class="muted">Hover a cell, or focus the map and use the arrow keys.</p>
        ) : (
          <CellText model={model} cell={shown} colour={painting.hex[shown]!} links />
        )}
      </div>
      {model.rawOutside.length > 0 && (
        <>
          <h2>Raw grants outside the slot grid</h2>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Container</th>
                  <th scope="col">Host uids</th>
                  <th scope="col">Host gids</th>
                  <th scope="col">Inside as</th>
                </tr>
              </thead>
              <tbody>
                {model.rawOutside.map((a, i) => (
                  <tr key={i}>
                    <td>
                      {a.container ? (
                        <Link href={containerHref(a.container, projectOf(a.project, scope.current))}>{a.container}</Link>
                      ) : (
                        a.owner
                      )}
                    </td>
                    <td class="mono">{a.uid ? range(a.uid.start, a.uid.count) : '—'}</td>
                    <td class="mono">{a.gid ? range(a.gid.start, a.gid.count) : '—'}</td>
                    <td class="mono">{a.nsUid ?? a.nsGid ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}

/** What one cell is: slot, state, holder and the exact host ranges. */
function CellText(props: { model: SlotModel; cell: number; colour: string; links?: boolean }) {
  const { model, cell } = props;
  const { current } = useProjectScope();
  const state = model.states[cell] as CellState;
  const a = model.owner[cell]! >= 0 ? model.allocations[model.owner[cell]!] : undefined;
  const ranges = cellRanges(model, cell);
  const who = (name: string) =>
    props.links ? <Link href={containerHref(name, projectOf(a?.project, current))}>{name}</Link> : <strong>{name}</strong>;
  const isRaw = a?.kind === 'raw';
  return (
    <div class="cell-text" data-slot={model.first + cell} data-state={LABEL.get(state)}>
      <div>
        <span class="swatch" style={{ background: props.colour }} aria-hidden="true" /> Slot {model.first + cell} ·{' '}
        <strong>{LABEL.get(state)}</strong>
        {a && a.state === 'quarantined' && state === CellState.free ? ' (quarantine over)' : ''}
      </div>
      {a?.container && (
        <div>
          {a.state === 'quarantined' ? 'was ' : ''}container {who(a.container)}
        </div>
      )}
      {a?.project && (
        <div data-testid="cell-project">
          project <ProjectTag name={a.project} />
        </div>
      )}
      {a && !a.container && a.owner && a.kind !== 'shared' && (
        <div>
          {a.state === 'quarantined' ? 'released by' : 'owner'} <span class="mono">{a.owner}</span>
        </div>
      )}
      {a?.kind === 'shared' && (
        <div>
          shared by{' '}
          {a.sharedBy?.length
            ? a.sharedBy.map((n, i) => (
                <span key={n}>
                  {i ? ', ' : ''}
                  {who(n)}
                </span>
              ))
            : 'nobody now'}
        </div>
      )}
      {isRaw ? (
        <>
          {a.uid && (
            <div>
              raw host uid <span class="mono">{range(a.uid.start, a.uid.count)}</span> → {a.nsUid} inside
            </div>
          )}
          {a.gid && (
            <div>
              raw host gid <span class="mono">{range(a.gid.start, a.gid.count)}</span> → {a.nsGid} inside
            </div>
          )}
        </>
      ) : (
        state !== CellState.outside && (
          <>
            <div>
              host uid{' '}
              <span class="mono" data-testid="cell-uid">
                {range(ranges.uid.start, ranges.uid.count)}
              </span>
            </div>
            <div>
              host gid{' '}
              <span class="mono" data-testid="cell-gid">
                {range(ranges.gid.start, ranges.gid.count)}
              </span>
            </div>
          </>
        )
      )}
      {a?.key && (
        <div>
          key <span class="mono">{a.key}</span>
        </div>
      )}
      {a && (a.slots ?? 1) > 1 && (
        <div>
          {a.slots} slots ({(a.slots ?? 1) * model.pool.sliceSize} IDs)
        </div>
      )}
      {a?.releasedAt && <div class="muted">released {ageOf(a.releasedAt)} ago</div>}
    </div>
  );
}
