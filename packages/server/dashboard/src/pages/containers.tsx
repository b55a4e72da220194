import { useState } from 'preact/hooks';
import { get } from '../api';
import { ErrorBanner, Link, Loading, PageHeader, ProjectTag, StateBadge } from '../components/common';
import { type Column, DataTable } from '../components/data-table';
import { ContainerActions } from '../components/container-actions';
import { ageOf, rootUidRange, when } from '../format';
import { usePoll } from '../poll';
import { CONTAINER_EVENTS } from '../live-events';
import { containerHref, inProject, useProjectScope } from '../project';
import { useCanOperate } from '../session';
import { CONTAINER_STATES, type ContainerView } from '@nagaya/contract';

/** Every container of the project in view (or of every project, with a PROJECT column), filterable by text, state and node. */
export function ContainersPage(props: { initialNode: string }) {
  const canOperate = useCanOperate();
  const { current } = useProjectScope();
  const allProjects = current === null;
  const { data, error, updatedAt, refresh } = usePoll(
    () => get<{ containers: ContainerView[] }>(inProject('/containers', current)),
    'containers',
    2000,
    CONTAINER_EVENTS,
  );
  const [text, setText] = useState('');
  const [state, setState] = useState('');
  const [node, setNode] = useState(props.initialNode);
  const containers = data?.containers ?? [];
  const nodes = [...new Set([...containers.map((c) => c.node), ...(node ? [node] : [])])].sort();
  const needle = text.trim().toLowerCase();
  const shown = containers.filter(
    (c) =>
      (!state || c.state === state) &&
      (!node || c.node === node) &&
      (!needle || c.name.includes(needle) || c.image.toLowerCase().includes(needle) || (rootUidRange(c.idmap.uid) ?? '').includes(needle)),
  );
  const columns: Column<ContainerView>[] = [
    { header: 'Name', cell: (c) => <Link href={containerHref(c.name, c.project)}>{c.name}</Link> },
    { header: 'Project', shown: allProjects, testId: 'project', cell: (c) => <ProjectTag name={c.project} /> },
    { header: 'State', cell: (c) => <StateBadge state={c.state} lastState={c.lastState} /> },
    { header: 'Node', cell: (c) => c.node },
    { header: 'Host uid range', className: 'mono', cell: (c) => rootUidRange(c.idmap.uid) ?? <span class="muted">none</span> },
    { header: 'Image', cell: (c) => c.image },
    { header: 'Age', title: (c) => when(c.createdAt), cell: (c) => ageOf(c.createdAt) },
    { header: 'Actions', shown: canOperate, cell: (c) => <ContainerActions small container={c} onDone={refresh} /> },
  ];
  return (
    <section>
      <PageHeader title="Containers" updatedAt={updatedAt}>
        {canOperate && (
          <Link class="button primary" href="/new-container">
            New container
          </Link>
        )}
      </PageHeader>
      <ErrorBanner error={error} prefix="Could not load containers" />
      <search>
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <label>
            Filter <input type="search" value={text} placeholder="name, image or uid" onInput={(e) => setText(e.currentTarget.value)} />
          </label>
          <label>
            State
            <select value={state} onChange={(e) => setState(e.currentTarget.value)}>
              <option value="">any</option>
              {CONTAINER_STATES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            Node
            <select value={node} onChange={(e) => setNode(e.currentTarget.value)}>
              <option value="">any</option>
              {nodes.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <span class="muted" aria-live="polite">
            {shown.length} of {containers.length}
          </span>
        </form>
      </search>
      {!data && !error ? (
        <Loading />
      ) : (
        <div class="table-wrap">
          <DataTable
            className="containers"
            columns={columns}
            rows={shown}
            rowKey={(c) => c.id}
            rowAttributes={(c) => ({ 'data-container': c.name })}
            empty={`No containers${containers.length ? ' match the filter' : ' yet'}.`}
          />
        </div>
      )}
    </section>
  );
}
