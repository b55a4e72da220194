import type { Lease } from '@nagaya/allocator';
import {
  DEFAULT_STOP_TIMEOUT_SECONDS,
  macOf,
  type ContainerNetworkView,
  type ContainerState,
  type ContainerView,
  type NodeStatus,
} from '@nagaya/contract';
import type { ContainerRow } from '../store/container-store';
import type { IpLease } from '../store/network-store';
import { projectKey } from './sticky-key';
import { mountViews } from './container-mounts';

/** The states of a row whose process lives on its node: nobody can tell them while the node is offline. */
export const LIVE_ON_NODE: readonly ContainerState[] = ['starting', 'running', 'stopping', 'restarting'];

/** What the API shows of a row's state: `unknown` when it says its process runs on a node that is offline or removed. */
export function shownState(state: ContainerState, nodeStatus: NodeStatus | undefined): ContainerState {
  return (nodeStatus === 'offline' || nodeStatus === 'removed') && LIVE_ON_NODE.includes(state) ? 'unknown' : state;
}

/** A container's network as the API shows it: its request, and its address while it holds one. */
export function networkView(row: Pick<ContainerRow, 'network'>, ip: Omit<IpLease, 'created'> | undefined): ContainerNetworkView {
  const mode = row.network?.mode ?? 'none';
  const held = mode === 'bridge' ? ip : undefined;
  return {
    mode,
    ip: held?.address ?? null,
    mac: held ? macOf(held.address) : null,
    gateway: held?.gateway ?? null,
    bridge: held?.bridge ?? null,
    publish: row.network?.publish ?? [],
  };
}

/**
 * Shapes a row, its ID lease and its address lease (if it holds them) for the API; `nodeStatus`
 * is the status its node shows (offline or removed: a live row shows `unknown`).
 */
export function containerView(
  row: ContainerRow,
  lease: Lease | undefined,
  extra: { nodeStatus?: NodeStatus | undefined; ip?: Omit<IpLease, 'created'> | undefined } = {},
): ContainerView {
  const state = shownState(row.state, extra.nodeStatus);
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
    network: networkView(row, extra.ip),
    mounts: mountViews(row.mounts),
    exitCode: row.exitCode,
    exitSignal: row.exitSignal,
    error: row.error,
    restartPolicy: row.restartPolicy ?? { name: 'no' },
    restartCount: row.restartCount ?? 0,
    lastExit: row.lastExit ?? null,
    init: row.run?.init === true,
    stopSignal: row.run?.stopSignal ?? 'SIGTERM',
    stopTimeoutSeconds: row.run?.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS,
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}
