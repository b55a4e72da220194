import { get } from '../api';
import { ErrorBanner, Link, Loading, PageHeader } from '../components/common';
import { type Column, DataTable } from '../components/data-table';
import { age, when } from '../format';
import { usePoll } from '../poll';
import { NODE_EVENTS } from '../live-events';
import type { NodeView } from '@nagaya/contract';

const COLUMNS: Column<NodeView>[] = [
  { header: 'Node', cell: (n) => <Link href={`/containers?node=${encodeURIComponent(n.name)}`}>{n.name}</Link> },
  {
    header: 'Status',
    cell: (n) => <span class={`badge ${n.status === 'active' ? 'state-running' : `state-${n.status}`}`}>{n.status}</span>,
  },
  { header: 'Heartbeat age', title: (n) => when(n.heartbeatAt), cell: (n) => `${(n.heartbeatAgeMs / 1000).toFixed(1)} s` },
  { header: 'Containers', cell: (n) => n.containers },
  { header: 'Version', cell: (n) => n.version },
  { header: 'Up since', title: (n) => when(n.startedAt), cell: (n) => `${age(Date.parse(n.startedAt))} ago` },
];

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
          <DataTable columns={COLUMNS} rows={data.nodes} rowKey={(n) => n.name} empty="No node has reported yet." />
        </div>
      )}
    </section>
  );
}
