import { get } from '../api';
import { ErrorBanner, Link, Loading, PageHeader } from '../components/common';
import { age, when } from '../format';
import { usePoll } from '../poll';
import { NODE_EVENTS } from '../live-events';
import type { NodeView } from '@nagaya/contract';

/** Worker nodes: online or offline by heartbeat age, and their live containers. */
export function NodesPage() {
  const { data, error, updatedAt } = usePoll(() => get<{ nodes: NodeView[] }>('/nodes'), 'nodes', 2000, NODE_EVENTS);
  return (
    <section>
      <PageHeader title="Nodes" updatedAt={updatedAt} />
      <ErrorBanner error={error} prefix="Could not load nodes" />
      {!data ? (
        !error && <Loading />
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Status</th>
                <th scope="col">Heartbeat age</th>
                <th scope="col">Containers</th>
                <th scope="col">Version</th>
                <th scope="col">Up since</th>
              </tr>
            </thead>
            <tbody>
              {data.nodes.map((n) => (
                <tr key={n.name}>
                  <td>
                    <Link href={`/containers?node=${encodeURIComponent(n.name)}`}>{n.name}</Link>
                  </td>
                  <td>
                    <span class={`badge ${n.status === 'active' ? 'state-running' : `state-${n.status}`}`}>{n.status}</span>
                  </td>
                  <td title={when(n.heartbeatAt)}>{(n.heartbeatAgeMs / 1000).toFixed(1)} s</td>
                  <td>{n.containers}</td>
                  <td>{n.version}</td>
                  <td title={when(n.startedAt)}>{age(Date.parse(n.startedAt))} ago</td>
                </tr>
              ))}
              {data.nodes.length === 0 && (
                <tr>
                  <td colSpan={6} class="muted">
                    No node has reported yet.
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
