import type { Lease } from '@nagaya/allocator';
import type { ContainerState, ContainerView, NodeStatus } from '@nagaya/contract';
import type { ContainerRow } from '../store/container-store';
import { projectKey } from './sticky-key';

/** The states of a row whose process lives on its node: nobody can tell them while the node is offline. */
const LIVE_ON_NODE: ContainerState[] = ['starting', 'running', 'stopping'];

/** What the API shows of a row's state: `unknown` when it says its process runs on a node that is offline or removed. */
export function shownState(state: ContainerState, nodeStatus: NodeStatus | undefined): ContainerState {
  return (nodeStatus === 'offline' || nodeStatus === 'removed') && LIVE_ON_NODE.includes(state) ? 'unknown' : state;
}

/** Shapes a row and its lease (if it holds one) for the API; `nodeStatus` is the status its node shows. */
export function containerView(row: ContainerRow, lease: Lease | undefined, nodeStatus?: NodeStatus): ContainerView {
  const state = shownState(row.state, nodeStatus);
  return {
    id: row.id,
    project: row.project,
    name: row.name,
    image: row.image,
    command: row.command,
    state,
    lastState: state === row.state ? null : row.state,
    node: row.node,
    pid: row.state === 'running' || row.state === 'stopping' ? row.pid : null,
    idmap: {
      isolated: lease?.isolated ?? row.idmap.isolated ?? true,
      key: row.idmap.key ?? (lease?.key ? projectKey(lease.key) : null),
      size: lease?.size ?? row.idmap.size ?? null,
      uid: lease?.maps.uid ?? [],
      gid: lease?.maps.gid ?? [],
    },
    limits: row.limits,
    security: { nesting: row.security?.nesting === true },
    exitCode: row.exitCode,
    exitSignal: row.exitSignal,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}
