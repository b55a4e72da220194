import { randomUUID } from 'node:crypto';
import type { VolumeView } from '@nagaya/contract';
import type { CreateVolumeInput } from '@nagaya/contract/schemas';
import { NagayaError } from '../errors';
import type { JobQueues } from '../jobs/job-queues';
import type { Logger } from '../observability/logger';
import type { AuditStore } from '../store/audit-store';
import type { NodeStore } from '../store/node-store';
import type { TokenIdentity } from '../store/token-store';
import type { VolumeRow, VolumeStore, VolumeUser } from '../store/volume-store';
import { NodePlacement } from './node-placement';

/** How long the API waits for a node to make or remove a volume's directory. */
const DIRECTORY_TIMEOUT_MS = 30_000;
/** How long a listing waits for a node to measure its volumes (then shows null). */
const USAGE_TIMEOUT_MS = 10_000;

export interface VolumeServiceDeps {
  volumes: VolumeStore;
  nodes: NodeStore;
  queues: JobQueues;
  audit: AuditStore;
  log: Logger;
  nodeOfflineMs: number;
}

/**
 * What the /volumes routes do. A volume's directory is made and removed by its node's worker
 * (through the node's rpc queue: the API may run elsewhere). Create makes the directory first and
 * records the row after; a crash in between leaves a directory with no row, which the node's
 * reconciler removes after its grace. Delete removes the row first (refused while a container
 * row mounts it) and the directory after; a directory left by a failed removal goes the same way.
 */
export class VolumeService {
  private readonly placement: NodePlacement;

  constructor(private readonly deps: VolumeServiceDeps) {
    this.placement = new NodePlacement(deps.nodes, deps.nodeOfflineMs);
  }

  async create(project: string, input: CreateVolumeInput, actor: TokenIdentity): Promise<VolumeView> {
    const { volumes, queues, audit, log } = this.deps;
    if (await volumes.find(project, input.name)) {
      throw new NagayaError('CONFLICT', `a volume named ${input.name} already exists in project ${project}`, { name: input.name });
    }
    const node = await this.placement.choose(input.node);
    const id = randomUUID();
    const quotaId = input.sizeBytes === undefined ? null : await volumes.nextQuotaId();
    await queues.call(
      node,
      { kind: 'volume-create', project, id, ...(quotaId === null ? {} : { quota: { id: quotaId, bytes: input.sizeBytes! } }) },
      DIRECTORY_TIMEOUT_MS,
    );
    let row: VolumeRow;
    try {
      row = await volumes.create({ id, project, name: input.name, node, sizeBytes: input.sizeBytes ?? null, quotaId });
    } catch (err) {
      await this.removeDirectory({ id, project, node }).catch((e: unknown) =>
        log.warn('could not remove the directory of a volume not recorded', { id, node, error: e as Error }),
      );
      throw err;
    }
    await audit.record(actor, project, 'volume.create', row.name, { id, node, sizeBytes: row.sizeBytes });
    return volumeView(row, [], 0);
  }

  async get(project: string, name: string): Promise<VolumeView> {
    return (await this.views([await this.deps.volumes.get(project, name)]))[0]!;
  }

  /** Volumes of one project (of every project when `project` is undefined), with their use and users. */
  async list(project: string | undefined): Promise<VolumeView[]> {
    return this.views(await this.deps.volumes.list(project === undefined ? {} : { project }));
  }

  /** Deletes a volume no container mounts (CONFLICT otherwise) and has its node remove its directory. */
  async delete(project: string, name: string, actor: TokenIdentity): Promise<{ deleted: string; directoryRemoved: boolean }> {
    const row = await this.deps.volumes.delete(project, name);
    await this.deps.audit.record(actor, project, 'volume.delete', name, { id: row.id, node: row.node });
    // the row is gone: a directory left behind now is an orphan, which its node's reconciler
    // removes (a node that is offline or removed is not waited for: it does so when it is back)
    const status = (await this.deps.nodes.statuses()).get(row.node);
    if (status !== 'active' && status !== 'draining') return { deleted: name, directoryRemoved: false };
    const directoryRemoved = await this.removeDirectory(row).then(
      () => true,
      (err: unknown) => {
        this.deps.log.warn('could not remove a deleted volume directory; the reconciler will', {
          id: row.id,
          node: row.node,
          error: err as Error,
        });
        return false;
      },
    );
    return { deleted: name, directoryRemoved };
  }

  private removeDirectory(v: Pick<VolumeRow, 'id' | 'project' | 'node'>): Promise<unknown> {
    return this.deps.queues.call(v.node, { kind: 'volume-remove', project: v.project, id: v.id }, DIRECTORY_TIMEOUT_MS);
  }

  /**
   * The views of rows: their users from Postgres, their use from their nodes (one call per node;
   * null where one does not answer, and at once for a node that is offline or removed).
   */
  private async views(rows: VolumeRow[]): Promise<VolumeView[]> {
    const [users, statuses] = await Promise.all([this.deps.volumes.usersOf(rows.map((r) => r.id)), this.deps.nodes.statuses()]);
    const used = new Map<string, number | null>();
    const byNode = new Map<string, VolumeRow[]>();
    for (const r of rows) {
      const status = statuses.get(r.node);
      if (status === 'active' || status === 'draining') byNode.set(r.node, [...(byNode.get(r.node) ?? []), r]);
    }
    await Promise.all(
      [...byNode].map(async ([node, onNode]) => {
        const answer = await this.deps.queues
          .call<Record<string, number | null>>(
            node,
            { kind: 'volume-usage', volumes: onNode.map((v) => ({ project: v.project, id: v.id })) },
            USAGE_TIMEOUT_MS,
          )
          .catch(() => ({}) as Record<string, number | null>);
        for (const v of onNode) used.set(v.id, answer[v.id] ?? null);
      }),
    );
    return rows.map((r) =>
      volumeView(
        r,
        users.filter((u) => u.volumeId === r.id),
        used.get(r.id) ?? null,
      ),
    );
  }
}

function volumeView(r: VolumeRow, users: VolumeUser[], usedBytes: number | null): VolumeView {
  return {
    id: r.id,
    project: r.project,
    name: r.name,
    node: r.node,
    sizeBytes: r.sizeBytes,
    usedBytes,
    mountedBy: users.map((u) => ({ container: u.container, path: u.path, readOnly: u.readOnly })),
    createdAt: r.createdAt.toISOString(),
  };
}
