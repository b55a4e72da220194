import type { Lease, MapLine } from '@nagaya/allocator';
import type { ContainerRow } from '../store/container-store';

/** A container as the API shows it (GET /containers/:name). */
export interface ContainerView {
  id: string;
  name: string;
  image: string;
  command: string[];
  state: ContainerRow['state'];
  node: string;
  pid: number | null;
  idmap: {
    isolated: boolean;
    key: string | null;
    size: number | null;
    uid: MapLine[];
    gid: MapLine[];
  };
  limits: ContainerRow['limits'];
  security: { nesting: boolean };
  exitCode: number | null;
  exitSignal: string | null;
  error: ContainerRow['error'];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** Shapes a row and its lease (if it holds one) for the API. */
export function containerView(row: ContainerRow, lease: Lease | undefined): ContainerView {
  return {
    id: row.id,
    name: row.name,
    image: row.image,
    command: row.command,
    state: row.state,
    node: row.node,
    pid: row.state === 'running' || row.state === 'stopping' ? row.pid : null,
    idmap: {
      isolated: lease?.isolated ?? row.idmap.isolated ?? true,
      key: lease?.key ?? row.idmap.key ?? null,
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
