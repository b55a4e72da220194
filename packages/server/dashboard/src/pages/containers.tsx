import { useState } from 'preact/hooks';
import { get } from '../api';
import { ErrorBanner, Link, Loading, PageHeader, ProjectTag, StateBadge } from '../components/common';
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
          <table class="containers">
            <thead>
              <tr>
                <th scope="col">Name</th>
                {allProjects && <th scope="col">Project</th>}
                <th scope="col">State</th>
                <th scope="col">Node</th>
                <th scope="col">Host uid range</th>
                <th scope="col">Image</th>
                <th scope="col">Age</th>
                {canOperate && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {shown.map((c) => (
                <tr key={c.id} data-container={c.name}>
                  <td>
                    <Link href={containerHref(c.name, c.project)}>{c.name}</Link>
                  </td>
                  {allProjects && (
                    <td data-testid="project">
                      <ProjectTag name={c.project} />
                    </td>
                  )}
                  <td>
                    <StateBadge state={c.state} lastState={c.lastState} />
                  </td>
                  <td>{c.node}</td>
                  <td class="mono">{rootUidRange(c.idmap.uid) ?? <span class="muted">none</span>}</td>
                  <td>{c.image}</td>
                  <td title={when(c.createdAt)}>{ageOf(c.createdAt)}</td>
                  {canOperate && (
                    <td>
                      <ContainerActions small container={c} onDone={refresh} />
                    </td>
                  )}
                </tr>
              ))}
              {shown.length === 0 && (
                <tr>
                  <td colSpan={8} class="muted">
                    No containers{containers.length ? ' match the filter' : ' yet'}.
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
