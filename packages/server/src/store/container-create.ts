import { SqlState, sqlStateOf, type LeaseRow } from '@nagaya/allocator';
import { NagayaError } from '../errors';
import { DEFAULT_LEASE_OF_C, splitLaunchColumns, type ImageColumns, type LaunchImage } from './container-launch-claim';
import { CONTAINER_COLUMNS, type ContainerRow } from './container-row';
import type { Db } from './db';
import { hostPortConflict, isHostPortTaken } from './host-port-conflict';
import { isMissingProject, projectRefusalOf } from './project-errors';

// The create of a container row (ContainerStore.create): one statement that checks its guards,
// inserts the row, reserves its published ports, and records its launch job and audit event.

/** A create named a node that is no longer active (it began to drain since placement read the fleet). */
export class NodeNotActiveError extends Error {
  constructor(readonly node: string) {
    super(`node ${node} no longer takes new containers`);
  }
}

/** What a create writes; the rest of a row starts empty (state pending). */
export type NewContainer = Pick<
  ContainerRow,
  'id' | 'project' | 'name' | 'image' | 'command' | 'env' | 'limits' | 'idmap' | 'security' | 'pool' | 'node'
> &
  Partial<Pick<ContainerRow, 'network' | 'run' | 'restartPolicy' | 'mounts' | 'kind'>>;

/** A created container and the id of the audit event that records its creation (none for a run's container). */
export interface CreatedContainer {
  row: ContainerRow;
  auditEventId: string | null;
  /** The project whose image the container runs (its own, or the built-in image's), when the create checked it. */
  imageProject?: string | null;
  /** With `startWithDefaultLease`: the slice the statement allocated (none when the row wants another map). */
  lease?: LeaseRow;
  /** With `startWithDefaultLease` and an image guard: what the launch needs of the image. */
  image?: LaunchImage;
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
  /**
   * A run's container, launched by the worker that makes it: the row goes in `starting` (no
   * launch job, no audit event: its run's submit is the audited act) and takes its default slice
   * in the same statement, as a launch's claim would (claimWithDefaultLease), which saves a run
   * one statement and its commit. A full pool found by the allocation is the `pool` refusal.
   */
  startWithDefaultLease?: boolean;
}

/** A created container, or what a guard refused (nothing was written). */
export type CreateResult = CreatedContainer | { refused: 'image' | 'image-changed' | 'pool' | 'volume' };

/** The statement of insertContainer ($1.. see its values); one string, built once (a prepared statement is found by its text). */
const INSERT_CONTAINER = `WITH n AS (SELECT name FROM node WHERE name = $9 AND status = 'active' FOR SHARE),
       img AS (
         SELECT project, digest, format, layers FROM image WHERE $15::boolean AND name = $3 AND (project = $14 OR (project = $16 AND source = $17))
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
         SELECT $1::uuid, $2::text, $3::text, $4::jsonb, $5::jsonb, $6::jsonb, $7::jsonb, $8::text, n.name,
                CASE WHEN $27::boolean THEN 'starting' ELSE 'pending' END, $13::jsonb, $14::text,
                $19::jsonb, $20::jsonb, $23::jsonb, $25::jsonb, $26::text
           FROM n WHERE (SELECT image_ok AND slot_free AND volumes_ok FROM ok)
         RETURNING ${CONTAINER_COLUMNS}),
       p AS (
         INSERT INTO host_port (container_id, node, host_ip, protocol, port, container_port)
         SELECT c.id, c.node, nagaya_host_port_ip(x."hostIp"), x.protocol, x."hostPort", x."containerPort"
           FROM c, jsonb_to_recordset(c.network->'publish') AS x("hostPort" int4, "containerPort" int4, protocol text, "hostIp" text)),
       j AS (
         INSERT INTO job (id, queue, kind, container_id, container, project)
         SELECT $10, $11, 'launch', c.id, c.name, c.project FROM c WHERE c.kind = 'service' ON CONFLICT (id) DO NOTHING),
       a AS (
         INSERT INTO audit_event (actor, project, action, target, details)
         SELECT $12, c.project, 'container.create', c.name, jsonb_build_object('id', c.id, 'node', c.node, 'image', c.image)
           FROM c WHERE NOT $27::boolean
         RETURNING id),
       l AS (${DEFAULT_LEASE_OF_C} AND $27::boolean)
       SELECT c.*, l.*, (SELECT id FROM a) AS "auditEventId",
              (SELECT project FROM img) AS image_project, (SELECT format FROM img) AS image_format,
              (SELECT digest FROM img) AS image_digest, (SELECT layers FROM img) AS image_layers, (SELECT project FROM img) AS "imageProject",
              (SELECT image_ok FROM ok) AS "imageOk", (SELECT slot_free FROM ok) AS "slotFree",
              (SELECT volumes_ok FROM ok) AS "volumesOk", EXISTS (SELECT 1 FROM n) AS "nodeActive"
         FROM (VALUES (1)) one LEFT JOIN c ON true LEFT JOIN l ON true`;

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
export async function insertContainer(
  db: Db,
  c: NewContainer,
  records: { launchJobId: string; queue: string; actor: string },
  guards: CreateGuards = {},
): Promise<CreateResult> {
  try {
    const { rows } = await db.query<
      Partial<ContainerRow> &
        Partial<LeaseRow> &
        Partial<ImageColumns> & {
          auditEventId: string | null;
          imageProject: string | null;
          imageOk: boolean;
          slotFree: boolean;
          nodeActive: boolean;
          volumesOk: boolean;
        }
    >(
      INSERT_CONTAINER,
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
        guards.startWithDefaultLease === true,
      ],
      { prepared: true },
    );
    const { auditEventId, imageOk, slotFree, nodeActive, volumesOk, ...columns } = rows[0]!;
    const imageProject = columns.image_project ?? null;
    if (!nodeActive) throw new NodeNotActiveError(c.node);
    if (!volumesOk) return { refused: 'volume' };
    if (guards.image && imageProject === null) return { refused: 'image' };
    if (guards.image && !imageOk) return { refused: 'image-changed' };
    if (!slotFree) return { refused: 'pool' };
    const { row, lease, image } = splitLaunchColumns(columns as ContainerRow & Partial<LeaseRow> & Partial<ImageColumns>);
    return {
      row,
      auditEventId,
      imageProject,
      ...(guards.startWithDefaultLease && lease ? { lease } : {}),
      ...(guards.startWithDefaultLease && image ? { image } : {}),
    };
  } catch (err) {
    if (err instanceof NodeNotActiveError) throw err;
    // the slot the guard saw went to another create meanwhile (or its lock was contended): wait as for a full pool
    if (guards.startWithDefaultLease && (sqlStateOf(err) === SqlState.poolExhausted || sqlStateOf(err) === SqlState.contention))
      return { refused: 'pool' };
    if (isHostPortTaken(err)) throw await hostPortConflict(db, c.node, c.network?.publish ?? []);
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
