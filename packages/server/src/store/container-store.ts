import type { LeaseRow } from '@nagaya/allocator';
import { NagayaError } from '../errors';
import type { ContainerState } from '@nagaya/contract';
import { insertContainer, type CreatedContainer, type CreateGuards, type CreateResult, type NewContainer } from './container-create';
import { claimWithDefaultLease, type LaunchImage } from './container-launch-claim';
import { CONTAINER_COLUMNS, type ContainerKind, type ContainerRow } from './container-row';
import { transitionContainer, type StateChange } from './container-state-change';
import type { Db } from './db';

export type { ContainerKind, ContainerNetwork, ContainerRow, ContainerSecurity, IdmapRequest } from './container-row';
export { NodeNotActiveError } from './container-create';
export type { CreatedContainer, CreateGuards, CreateResult, NewContainer } from './container-create';
export type { LaunchImage } from './container-launch-claim';
export type { StateChange } from './container-state-change';

/**
 * Container rows: create, read, and state changes guarded by the state they expect. The one
 * handle the services and jobs hold; its longest statements live beside it, one file each
 * (container-create, container-launch-claim, container-state-change).
 */
export class ContainerStore {
  constructor(private readonly db: Db) {}

  /** Inserts a pending container with its launch job record and audit event, its guards checked first (see insertContainer). */
  create(
    c: NewContainer,
    records: { launchJobId: string; queue: string; actor: string },
    guards: CreateGuards = {},
  ): Promise<CreateResult> {
    return insertContainer(this.db, c, records, guards);
  }

  /**
   * Deletes a container that never started, with its job records, if it is still pending and no
   * launch of it began (no lease: nothing was taken), and records the audit event. One statement:
   * a worker that claims the row at the same moment either wins (nothing is deleted) or finds no
   * row. Quotas give back through the container's AFTER DELETE trigger. Returns false when the
   * row is no longer such a container.
   */
  async deleteUnstarted(id: string, audit: { actor: string; action: string }): Promise<boolean> {
    const { rows } = await this.db.query<{ id: string }>(
      `WITH c AS (
         DELETE FROM container WHERE id = $1 AND state = 'pending' AND started_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM id_lease l WHERE l.owner = $1::text)
         RETURNING id, project, name, node),
       j AS (DELETE FROM job WHERE container_id IN (SELECT id FROM c)),
       a AS (
         INSERT INTO audit_event (actor, project, action, target, details)
         SELECT $2, c.project, $3, c.name, jsonb_build_object('id', c.id, 'node', c.node, 'atOnce', true) FROM c)
       SELECT id FROM c`,
      [id, audit.actor, audit.action],
    );
    return rows.length > 0;
  }

  /** Takes back a create whose launch job could not be queued: the row and what create() wrote with it. */
  async discardCreate(created: CreatedContainer, launchJobId: string): Promise<void> {
    await this.db.query(
      `WITH c AS (DELETE FROM container WHERE id = $1), j AS (DELETE FROM job WHERE id = $2)
       DELETE FROM audit_event WHERE id = $3`,
      [created.row.id, launchJobId, created.auditEventId],
    );
  }

  async findByName(project: string, name: string): Promise<ContainerRow | undefined> {
    const { rows } = await this.db.query<ContainerRow>(
      `SELECT ${CONTAINER_COLUMNS} FROM container WHERE project = $1 AND name = $2`,
      [project, name],
      {
        prepared: true,
      },
    );
    return rows[0];
  }

  async findById(id: string): Promise<ContainerRow | undefined> {
    const { rows } = await this.db.query<ContainerRow>(`SELECT ${CONTAINER_COLUMNS} FROM container WHERE id = $1`, [id], {
      prepared: true,
    });
    return rows[0];
  }

  /**
   * Returns the container of that name in the project; NOT_FOUND if there is none, also when
   * another project has one of that name (a tenant learns nothing of other projects).
   */
  async getByName(project: string, name: string): Promise<ContainerRow> {
    const c = await this.findByName(project, name);
    if (!c) throw new NagayaError('NOT_FOUND', `no container named ${name} in project ${project}`);
    return c;
  }

  /** Containers, oldest first; of one project when `project` is given, else of every project. */
  async list(filter: { project?: string; node?: string; states?: ContainerState[]; kind?: ContainerKind } = {}): Promise<ContainerRow[]> {
    const { rows } = await this.db.query<ContainerRow>(
      `SELECT ${CONTAINER_COLUMNS} FROM container WHERE ($1::text IS NULL OR node = $1) AND ($2::text[] IS NULL OR state = ANY ($2))
          AND ($3::text IS NULL OR project = $3) AND ($4::text IS NULL OR kind = $4)
        ORDER BY created_at, name`,
      [filter.node ?? null, filter.states ?? null, filter.project ?? null, filter.kind ?? null],
    );
    return rows;
  }

  /**
   * Puts a pending container (or one in another of `states`) on another node (its old node is
   * draining or gone), if it is still so on `from`. Returns the row, or undefined when it moved on in between.
   */
  async move(id: string, from: string, to: string, states: ContainerState[] = ['pending']): Promise<ContainerRow | undefined> {
    const { rows } = await this.db.query<ContainerRow>(
      // a container that mounts a volume runs where the volume is, or nowhere
      `UPDATE container SET node = $3, updated_at = now()
        WHERE id = $1 AND node = $2 AND state = ANY ($4) AND NOT mounts @> '[{"kind": "volume"}]' RETURNING ${CONTAINER_COLUMNS}`,
      [id, from, to, states],
    );
    return rows[0];
  }

  /** Moves a container to `to` if it is in one of `from`, and still on that run and node when `of` says (see transitionContainer). */
  transition(
    id: string,
    from: ContainerState[],
    to: ContainerState,
    change: StateChange = {},
    of?: { pid?: number | null; node?: string },
    options: { unflushed?: boolean } = {},
  ): Promise<ContainerRow | undefined> {
    return transitionContainer(this.db, id, from, to, change, of, options);
  }

  /** Makes a launch's container starting and, for the default map, gives it its slice in the same statement (see claimWithDefaultLease). */
  claimWithDefaultLease(
    id: string,
    from: ContainerState[],
    node: string,
    imageRule?: { builtInProject: string; builtInSource: string },
    policyRestart?: { restartCount: number },
  ): Promise<{ row: ContainerRow; lease?: LeaseRow; image?: LaunchImage } | undefined> {
    return claimWithDefaultLease(this.db, id, from, node, imageRule, policyRestart);
  }

  /**
   * Records whether a user's stop is the last word on the container (restart policies respect it).
   * A user's start or restart also begins the policy's count afresh, as Docker's does: an
   * on-failure container that used up its retries gets them again, and a pending policy restart
   * queued for the old count finds nothing to do.
   */
  async markStoppedByUser(id: string, stopped: boolean): Promise<void> {
    await this.db.query(
      `UPDATE container SET stopped_by_user = $2,
              restart_count = CASE WHEN $2 THEN restart_count ELSE 0 END,
              restart_streak = CASE WHEN $2 THEN restart_streak ELSE 0 END
        WHERE id = $1`,
      [id, stopped],
    );
  }

  /**
   * Gives the container's slice back (to quarantine, through the allocator's own nagaya_release,
   * which keeps a fenced lease) and deletes its row, in one statement: a run's container goes in
   * one round trip. Call it once nothing on disk is owned by the slice's IDs any more.
   */
  async deleteReleasingSlice(id: string): Promise<{ released: boolean; deleted: boolean }> {
    const { rows } = await this.db.query<{ released: boolean; deleted: boolean }>(
      `WITH r AS (SELECT nagaya_release($1::text) AS released),
            d AS (DELETE FROM container WHERE id = $1::uuid RETURNING id)
       SELECT (SELECT released FROM r) AS released, EXISTS (SELECT 1 FROM d) AS deleted`,
      [id],
      { prepared: true },
    );
    return rows[0]!;
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM container WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  /** Counts containers by state (for metrics and the overview). */
  async countByState(): Promise<Record<string, number>> {
    const { rows } = await this.db.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM container GROUP BY state');
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }
}
