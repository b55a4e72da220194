import type { LeaseRow } from '@nagaya/allocator';
import { NagayaError } from '../errors';
import type { ContainerState } from '@nagaya/contract';
import type { ContainerKind, ContainerRow } from './container-row';
import type { Db } from './db';
import { hostPortConflict, isHostPortTaken } from './host-port-conflict';
import { isMissingProject, projectRefusalOf } from './project-errors';

export type { ContainerKind, ContainerNetwork, ContainerRow, ContainerSecurity, IdmapRequest } from './container-row';

/** A create named a node that is no longer active (it began to drain since placement read the fleet). */
export class NodeNotActiveError extends Error {
  constructor(readonly node: string) {
    super(`node ${node} no longer takes new containers`);
  }
}

/** The columns nagaya_allocate returns (a LeaseRow), which claimWithDefaultLease reads beside the row's. */
const LEASE_COLUMNS: ReadonlySet<string> = new Set([
  'lease_owner',
  'lease_pool',
  'lease_isolated',
  'lease_slot',
  'lease_slots',
  'lease_uid_base',
  'lease_gid_base',
  'lease_size',
  'lease_key',
  'lease_raw',
  'lease_created_at',
  'created',
] satisfies Array<keyof LeaseRow>);

/** What a launch needs of a container's image, read by the claim (see ImageStore.layersForLaunch). */
export interface LaunchImage {
  project: string;
  format: string;
  digest: string | null;
  /** diff_ids, bottom first; empty for a directory image. */
  layers: string[];
}

interface ImageColumns {
  image_project: string | null;
  image_format: string | null;
  image_digest: string | null;
  image_layers: string[] | null;
}
const IMAGE_COLUMNS: ReadonlySet<string> = new Set(['image_project', 'image_format', 'image_digest', 'image_layers'] satisfies Array<
  keyof ImageColumns
>);

/** Every column, named as ContainerRow names it, so rows need no mapping. */
const ROW = `id, project, name, image, command, env, limits, idmap, security, network, run, mounts, pool, node, state, pid, start_time AS "startTime",
  exit_code AS "exitCode", exit_signal AS "exitSignal", error, created_at AS "createdAt", started_at AS "startedAt",
  finished_at AS "finishedAt", updated_at AS "updatedAt", restart_policy AS "restartPolicy", restart_count AS "restartCount",
  restart_streak AS "restartStreak", last_exit AS "lastExit", stopped_by_user AS "stoppedByUser", kind`;

/** What a create writes; the rest of a row starts empty (state pending). */
export type NewContainer = Pick<
  ContainerRow,
  'id' | 'project' | 'name' | 'image' | 'command' | 'env' | 'limits' | 'idmap' | 'security' | 'pool' | 'node'
> &
  Partial<Pick<ContainerRow, 'network' | 'run' | 'restartPolicy' | 'mounts' | 'kind'>>;

/** A created container and the id of the audit event that records its creation. */
export interface CreatedContainer {
  row: ContainerRow;
  auditEventId: string;
  /** The project whose image the container runs (its own, or the built-in image's), when the create checked it. */
  imageProject?: string | null;
}

/** What a create checks in its own statement before it writes anything. */
export interface CreateGuards {
  /**
   * The image (the row's) must exist in the container's project, or be a built-in one of
   * `builtInProject` from `builtInSource`; with `digest`, it must still be that one (the caller
   * worked out the row from a cached record).
   */
  image?: { builtInProject: string; builtInSource: string; digest?: string | null };
  /** The container's pool must have a slot that could be handed out now. */
  freeSlot?: boolean;
  /** These volumes (distinct ids) must be the project's and on the container's node; locked FOR KEY SHARE against a delete until the row is in. */
  volumes?: string[];
}

/** A created container, or what a guard refused (nothing was written). */
export type CreateResult = CreatedContainer | { refused: 'image' | 'image-changed' | 'pool' | 'volume' };

/** Fields a state change may set; undefined leaves a column alone, null clears it. */
export interface StateChange {
  pid?: number | null;
  startTime?: string | null;
  exitCode?: number | null;
  exitSignal?: string | null;
  error?: ContainerRow['error'];
  startedAt?: Date | null;
  finishedAt?: Date | null;
  restartCount?: number;
  restartStreak?: number;
  lastExit?: ContainerRow['lastExit'];
  stoppedByUser?: boolean;
}

const COLUMNS: Record<keyof StateChange, string> = {
  pid: 'pid',
  startTime: 'start_time',
  exitCode: 'exit_code',
  exitSignal: 'exit_signal',
  error: 'error',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  restartCount: 'restart_count',
  restartStreak: 'restart_streak',
  lastExit: 'last_exit',
  stoppedByUser: 'stopped_by_user',
};

/** The columns a StateChange writes as JSON. */
const JSON_COLUMNS: ReadonlySet<keyof StateChange> = new Set(['error', 'lastExit']);

/** Container rows: create, read, and state changes guarded by the state they expect. */
export class ContainerStore {
  constructor(private readonly db: Db) {}

  /**
   * Inserts a pending container together with the record of its launch job and the audit event
   * of its creation: one statement, so the create path pays one round trip for all three (a
   * launch is measured in milliseconds). CONFLICT when the name is taken in the project; the
   * project's quotas are checked by the insert's own trigger (QUOTA_EXCEEDED, NOT_FOUND for a
   * project that is gone, INVALID_INPUT, FORBIDDEN for a raw idmap the project does not allow).
   * Published ports are reserved on the node in the same statement: CONFLICT when one is taken
   * there (host_port_taken), and a refusal of any kind leaves no reservation behind.
   *
   * `guards` are checked by the same statement, before anything is written: the image exists
   * for the project (its own, or a built-in one of `builtIn.project`), and the container's pool
   * has a slot free now, and the volumes it mounts (distinct ids) are its project's and on its node,
   * locked FOR KEY SHARE so a volume delete waits for this row (VolumeStore.delete). When one fails nothing is inserted (no trigger runs, no quota is
   * charged) and the answer says which.
   */
  async create(
    c: NewContainer,
    records: { launchJobId: string; queue: string; actor: string },
    guards: CreateGuards = {},
  ): Promise<CreateResult> {
    try {
      const { rows } = await this.db.query<
        Partial<ContainerRow> & {
          auditEventId: string | null;
          imageProject: string | null;
          imageOk: boolean;
          slotFree: boolean;
          nodeActive: boolean;
          volumesOk: boolean;
        }
      >(
        `WITH n AS (SELECT name FROM node WHERE name = $9 AND status = 'active' FOR SHARE),
         img AS (
           SELECT project, digest FROM image WHERE $15::boolean AND name = $3 AND (project = $14 OR (project = $16 AND source = $17))
            ORDER BY project = $14 DESC LIMIT 1 FOR KEY SHARE),
         vol AS (SELECT id FROM volume WHERE id = ANY ($24::uuid[]) AND project = $14 AND node = $9 FOR KEY SHARE),
         ok AS (
           SELECT NOT $15::boolean OR EXISTS (SELECT 1 FROM img WHERE NOT $21::boolean OR digest IS NOT DISTINCT FROM $22::text) AS image_ok,
                  NOT $18::boolean OR EXISTS (
                    SELECT 1 FROM id_slot s JOIN id_pool p ON p.id = s.pool_id
                     WHERE p.name = $8 AND s.state = 'free'
                       AND (s.released_at IS NULL OR s.released_at <= clock_timestamp() - make_interval(secs => p.quarantine_seconds)))
                  AS slot_free,
                  (SELECT count(*) FROM vol) = cardinality($24::uuid[]) AS volumes_ok),
         c AS (
           INSERT INTO container (id, name, image, command, env, limits, idmap, pool, node, state, security, project, network, run,
                                  restart_policy, mounts, kind)
           SELECT $1::uuid, $2::text, $3::text, $4::jsonb, $5::jsonb, $6::jsonb, $7::jsonb, $8::text, n.name, 'pending', $13::jsonb, $14::text,
                  $19::jsonb, $20::jsonb, $23::jsonb, $25::jsonb, $26::text
             FROM n WHERE (SELECT image_ok AND slot_free AND volumes_ok FROM ok)
           RETURNING ${ROW}),
         p AS (
           INSERT INTO host_port (container_id, node, host_ip, protocol, port, container_port)
           SELECT c.id, c.node, nagaya_host_port_ip(x."hostIp"), x.protocol, x."hostPort", x."containerPort"
             FROM c, jsonb_to_recordset(c.network->'publish') AS x("hostPort" int4, "containerPort" int4, protocol text, "hostIp" text)),
         j AS (
           INSERT INTO job (id, queue, kind, container_id, container, project)
           SELECT $10, $11, 'launch', c.id, c.name, c.project FROM c WHERE c.kind = 'service' ON CONFLICT (id) DO NOTHING),
         a AS (
           INSERT INTO audit_event (actor, project, action, target, details)
           SELECT $12, c.project, 'container.create', c.name, jsonb_build_object('id', c.id, 'node', c.node, 'image', c.image) FROM c
           RETURNING id)
         SELECT c.*, (SELECT id FROM a) AS "auditEventId", (SELECT project FROM img) AS "imageProject",
                (SELECT image_ok FROM ok) AS "imageOk", (SELECT slot_free FROM ok) AS "slotFree",
                (SELECT volumes_ok FROM ok) AS "volumesOk", EXISTS (SELECT 1 FROM n) AS "nodeActive"
           FROM (VALUES (1)) one LEFT JOIN c ON true`,
        [
          c.id,
          c.name,
          c.image,
          JSON.stringify(c.command),
          JSON.stringify(c.env),
          JSON.stringify(c.limits),
          JSON.stringify(c.idmap),
          c.pool,
          c.node,
          records.launchJobId,
          records.queue,
          records.actor,
          JSON.stringify(c.security),
          c.project,
          guards.image !== undefined,
          guards.image?.builtInProject ?? null,
          guards.image?.builtInSource ?? null,
          guards.freeSlot === true,
          JSON.stringify(c.network ?? { mode: 'none' }),
          JSON.stringify(c.run ?? {}),
          guards.image?.digest !== undefined,
          guards.image?.digest ?? null,
          JSON.stringify(c.restartPolicy ?? { name: 'no' }),
          guards.volumes ?? [],
          JSON.stringify(c.mounts ?? []),
          c.kind ?? 'service',
        ],
        { prepared: true },
      );
      const { auditEventId, imageProject, imageOk, slotFree, nodeActive, volumesOk, ...row } = rows[0]!;
      if (!nodeActive) throw new NodeNotActiveError(c.node);
      if (!volumesOk) return { refused: 'volume' };
      if (guards.image && imageProject === null) return { refused: 'image' };
      if (guards.image && !imageOk) return { refused: 'image-changed' };
      if (!slotFree) return { refused: 'pool' };
      return { row: row as ContainerRow, auditEventId: auditEventId!, imageProject };
    } catch (err) {
      if (err instanceof NodeNotActiveError) throw err;
      if (isHostPortTaken(err)) throw await hostPortConflict(this.db, c.node, c.network?.publish ?? []);
      if ((err as { code?: string }).code === '23505') {
        throw new NagayaError('CONFLICT', `a container named ${c.name} already exists in project ${c.project}`, {
          name: c.name,
          project: c.project,
        });
      }
      if (isMissingProject(err)) throw new NagayaError('NOT_FOUND', `no project named ${c.project}`, { project: c.project });
      throw projectRefusalOf(err) ?? err;
    }
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
    const { rows } = await this.db.query<ContainerRow>(`SELECT ${ROW} FROM container WHERE project = $1 AND name = $2`, [project, name], {
      prepared: true,
    });
    return rows[0];
  }

  async findById(id: string): Promise<ContainerRow | undefined> {
    const { rows } = await this.db.query<ContainerRow>(`SELECT ${ROW} FROM container WHERE id = $1`, [id], { prepared: true });
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
      `SELECT ${ROW} FROM container WHERE ($1::text IS NULL OR node = $1) AND ($2::text[] IS NULL OR state = ANY ($2))
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
        WHERE id = $1 AND node = $2 AND state = ANY ($4) AND NOT mounts @> '[{"kind": "volume"}]' RETURNING ${ROW}`,
      [id, from, to, states],
    );
    return rows[0];
  }

  /**
   * Moves a container to `to` if it is in one of `from` (or any state when from is empty) and,
   * when `of` gives them, still records that run's pid (null: none) and is still on that node;
   * returns the updated row, or undefined when the container is gone, in another state, on
   * another run or moved to another node. `unflushed`: the change is answered before Postgres
   * has flushed it to its WAL (a millisecond or more here), for changes a Postgres crash may
   * lose because the reconciler redoes them (a launch marked running: a starting row whose
   * container runs is adopted). Never for what a launch relies on (the claim and its slice) or
   * what a client was told.
   */
  async transition(
    id: string,
    from: ContainerState[],
    to: ContainerState,
    change: StateChange = {},
    of?: { pid?: number | null; node?: string },
    options: { unflushed?: boolean } = {},
  ): Promise<ContainerRow | undefined> {
    const sets = ['state = $2', 'updated_at = now()'];
    const values: unknown[] = [id, to];
    for (const [key, column] of Object.entries(COLUMNS) as Array<[keyof StateChange, string]>) {
      if (change[key] === undefined) continue;
      values.push(JSON_COLUMNS.has(key) && change[key] !== null ? JSON.stringify(change[key]) : change[key]);
      sets.push(`${column} = $${values.length}`);
    }
    values.push(from.length ? from : null);
    const fromParam = values.length;
    let sameRun = '';
    if (of && 'pid' in of) {
      values.push(of.pid);
      sameRun = ` AND pid IS NOT DISTINCT FROM $${values.length}::integer`;
    }
    if (of?.node !== undefined) {
      values.push(of.node);
      sameRun += ` AND node = $${values.length}`;
    }
    const update = `UPDATE container SET ${sets.join(', ')} WHERE id = $1 AND ($${fromParam}::text[] IS NULL OR state = ANY ($${fromParam}))${sameRun}
       RETURNING ${ROW}`;
    // unflushed: the statement's own transaction commits without waiting for its WAL flush
    // (SET LOCAL synchronous_commit = off, in the same statement)
    const text = options.unflushed
      ? `WITH s AS (SELECT set_config('synchronous_commit', 'off', true)), u AS (${update}) SELECT u.* FROM u, s`
      : update;
    const { rows } = await this.db.query<ContainerRow>(text, values, { prepared: true });
    return rows[0];
  }

  /**
   * Moves a container to `starting` if it is in one of `from` and on `node`, and, in the same statement, gives
   * it its slice when it asks for the default map (one isolated slice of its pool: no size, key
   * or raw entries), through the allocator's own nagaya_allocate: a launch's claim and its
   * allocation cost one round trip. Undefined when the container is gone or in another state;
   * `lease` is undefined when the row wants another map (allocate it through the Allocator).
   * If the allocation fails (a full pool, a lost race), the claim is rolled back with it and the
   * SQL error is thrown: the caller claims and allocates separately, to get the allocator's
   * retries and its error.
   */
  async claimWithDefaultLease(
    id: string,
    from: ContainerState[],
    node: string,
    imageRule?: { builtInProject: string; builtInSource: string },
    policyRestart?: { restartCount: number },
  ): Promise<{ row: ContainerRow; lease?: LeaseRow; image?: LaunchImage } | undefined> {
    // With `imageRule`, the same statement also reads what the launch needs of the row's image
    // (ImageRecords.visible's rule: the project's own, else a built-in one), which saves the
    // worker a round trip per launch. The row names the image, so a delete cannot take it meanwhile.
    const { rows } = await this.db.query<ContainerRow & Partial<LeaseRow> & Partial<ImageColumns>>(
      `WITH c AS (
         UPDATE container SET state = 'starting', error = NULL, updated_at = now()
          WHERE id = $1 AND state = ANY ($2) AND node = $3
            AND ($7::integer IS NULL OR (restart_count = $7 AND NOT stopped_by_user)) RETURNING ${ROW}),
       l AS (
         SELECT a.* FROM c JOIN id_pool p ON p.name = c.pool,
                LATERAL nagaya_allocate(p.id, c.id::text, true, 1, NULL) a
          WHERE (c.idmap - 'isolated') = '{}'::jsonb AND coalesce((c.idmap ->> 'isolated')::boolean, true)),
       i AS (
         SELECT i.project AS image_project, i.format AS image_format, i.digest AS image_digest, i.layers AS image_layers
           FROM c, image i
          WHERE $4::boolean AND i.name = c.image AND (i.project = c.project OR (i.project = $5 AND i.source = $6))
          ORDER BY i.project = c.project DESC LIMIT 1)
       SELECT c.*, l.*, i.* FROM c LEFT JOIN l ON true LEFT JOIN i ON true`,
      [
        id,
        from,
        node,
        imageRule !== undefined,
        imageRule?.builtInProject ?? null,
        imageRule?.builtInSource ?? null,
        policyRestart?.restartCount ?? null,
      ],
      { prepared: true },
    );
    const r = rows[0];
    if (!r) return undefined;
    // the row's, the lease's and the image's columns come back side by side: split them by name
    const row = Object.fromEntries(Object.entries(r).filter(([k]) => !LEASE_COLUMNS.has(k) && !IMAGE_COLUMNS.has(k))) as ContainerRow;
    const image: LaunchImage | undefined =
      r.image_project === null || r.image_project === undefined
        ? undefined
        : { project: r.image_project, format: r.image_format!, digest: r.image_digest ?? null, layers: r.image_layers ?? [] };
    if (r.lease_owner === null || r.lease_owner === undefined) return { row, ...(image ? { image } : {}) };
    const lease = Object.fromEntries(Object.entries(r).filter(([k]) => LEASE_COLUMNS.has(k))) as unknown as LeaseRow;
    return { row, lease, ...(image ? { image } : {}) };
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
