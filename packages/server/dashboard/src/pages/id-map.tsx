import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get } from '../api';
import { ErrorBanner, Link, Loading, PageHeader } from '../components/common';
import { type Column, DataTable } from '../components/data-table';
import { CellText } from '../components/slot-cell-text';
import { range } from '../format';
import { usePoll } from '../poll';
import { SLICE_EVENTS } from '../live-events';
import { containerHref, inProject, projectOf, useProjectScope } from '../project';
import { faded } from '../project-colours';
import { navigate } from '../router';
import { cellAtPoint, drawSlots, mapLayout, selectionAfterKey } from '../slot-map-layout';
import { paint, type ColourBy } from '../slot-map-paint';
import { buildSlotModel, LEGEND, type SlotModel } from '../slot-model';
import type { AllocationView, PoolView } from '@nagaya/contract';

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

/** One pool's slots on a canvas, with the legend, the colour and project choices, the find box, a tooltip and the hovered or selected slot's detail. */
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

  const { cellPx, cols, rows, gap } = mapLayout(width, model.count);

  useEffect(() => {
    const c = canvas.current;
    if (!c || !cellPx) return;
    drawSlots(c, painting.words, model.count, { cellPx, cols, rows, gap }, [selected, hover?.cell ?? null]);
  }, [model, painting, cols, rows, cellPx, gap, selected, hover?.cell]);

  const cellAt = (event: MouseEvent): number | null => {
    const rect = canvas.current!.getBoundingClientRect();
    return cellAtPoint(event.clientX - rect.left, event.clientY - rect.top, { cellPx, cols, rows, gap }, model.count);
  };
  const allocationOf = (cell: number) => (model.owner[cell]! >= 0 ? model.allocations[model.owner[cell]!] : undefined);
  const open = (cell: number) => {
    const a = allocationOf(cell);
    if (a?.container && (a.state === 'active' || a.state === 'out_of_pool' || a.kind === 'raw'))
      navigate(containerHref(a.container, projectOf(a.project, scope.current)));
  };
  const onKey = (e: KeyboardEvent) => {
    const next = selectionAfterKey(e.key, selected ?? 0, cols, model.count);
    if (next !== null) {
      setSelected(next);
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
            <RawGrantsTable grants={model.rawOutside} current={scope.current} />
          </div>
        </>
      )}
    </>
  );
}

/** The raw grants drawn in no slot of the map, listed instead: whose each is and what host ids it maps. */
function RawGrantsTable(props: { grants: AllocationView[]; current: string | null }) {
  const columns: Column<AllocationView>[] = [
    {
      header: 'Container',
      cell: (a) =>
        a.container ? <Link href={containerHref(a.container, projectOf(a.project, props.current))}>{a.container}</Link> : a.owner,
    },
    { header: 'Host uids', className: 'mono', cell: (a) => (a.uid ? range(a.uid.start, a.uid.count) : '—') },
    { header: 'Host gids', className: 'mono', cell: (a) => (a.gid ? range(a.gid.start, a.gid.count) : '—') },
    { header: 'Inside as', className: 'mono', cell: (a) => a.nsUid ?? a.nsGid ?? '' },
  ];
  return <DataTable columns={columns} rows={props.grants} rowKey={(_, i) => i} />;
}
