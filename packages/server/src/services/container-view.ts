import type { Lease } from '@nagaya/allocator';
import { macOf, type ContainerNetworkView, type ContainerView } from '@nagaya/contract';
import type { ContainerRow } from '../store/container-store';
import type { IpLease } from '../store/network-store';
import { projectKey } from './sticky-key';

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

/** Shapes a row, its ID lease and its address lease (if it holds them) for the API. */
export function containerView(row: ContainerRow, lease: Lease | undefined, ip?: Omit<IpLease, 'created'>): ContainerView {
  return {
    id: row.id,
    project: row.project,
    name: row.name,
    image: row.image,
    command: row.command,
    state: row.state,
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
    network: networkView(row, ip),
    exitCode: row.exitCode,
    exitSignal: row.exitSignal,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}
