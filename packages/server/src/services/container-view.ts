import type { Lease } from '@nagaya/allocator';
import type { ContainerView } from '@nagaya/contract';
import type { ContainerRow } from '../store/container-store';
import { projectKey } from './sticky-key';

/** Shapes a row and its lease (if it holds one) for the API. */
export function containerView(row: ContainerRow, lease: Lease | undefined): ContainerView {
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
    exitCode: row.exitCode,
    exitSignal: row.exitSignal,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}
