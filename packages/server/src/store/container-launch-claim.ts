import type { LeaseRow } from '@nagaya/allocator';
import type { ContainerState } from '@nagaya/contract';
import { CONTAINER_COLUMNS, type ContainerRow } from './container-row';
import type { Db } from './db';

// A launch's claim of its container row (ContainerStore.claimWithDefaultLease): the row made
// starting, its default slice allocated and its image read, in one round trip.

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

/**
 * The default slice of the row in a statement's CTE `c`: one isolated slice of its pool, for a row
 * whose idmap asks for nothing else (no size, key or raw entries), through the allocator's own
 * nagaya_allocate. A launch's claim takes it, and so does a run container's create.
 */
export const DEFAULT_LEASE_OF_C = `SELECT a.* FROM c JOIN id_pool p ON p.name = c.pool, LATERAL nagaya_allocate(p.id, c.id::text, true, 1, NULL) a
  WHERE (c.idmap - 'isolated') = '{}'::jsonb AND coalesce((c.idmap ->> 'isolated')::boolean, true)`;

/** What a launch needs of a container's image, read by the claim (see ImageStore.layersForLaunch). */
export interface LaunchImage {
  project: string;
  format: string;
  digest: string | null;
  /** diff_ids, bottom first; empty for a directory image. */
  layers: string[];
}

export interface ImageColumns {
  image_project: string | null;
  image_format: string | null;
  image_digest: string | null;
  image_layers: string[] | null;
}
const IMAGE_COLUMNS: ReadonlySet<string> = new Set(['image_project', 'image_format', 'image_digest', 'image_layers'] satisfies Array<
  keyof ImageColumns
>);

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
export async function claimWithDefaultLease(
  db: Db,
  id: string,
  from: ContainerState[],
  node: string,
  imageRule?: { builtInProject: string; builtInSource: string },
  policyRestart?: { restartCount: number },
): Promise<{ row: ContainerRow; lease?: LeaseRow; image?: LaunchImage } | undefined> {
  // With `imageRule`, the same statement also reads what the launch needs of the row's image
  // (ImageRecords.visible's rule: the project's own, else a built-in one), which saves the
  // worker a round trip per launch. The row names the image, so a delete cannot take it meanwhile.
  const { rows } = await db.query<ContainerRow & Partial<LeaseRow> & Partial<ImageColumns>>(
    `WITH c AS (
       UPDATE container SET state = 'starting', error = NULL, updated_at = now()
        WHERE id = $1 AND state = ANY ($2) AND node = $3
          AND ($7::integer IS NULL OR (restart_count = $7 AND NOT stopped_by_user)) RETURNING ${CONTAINER_COLUMNS}),
     l AS (${DEFAULT_LEASE_OF_C}),
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
  return splitLaunchColumns(r);
}

/**
 * A row that carries a container's columns, nagaya_allocate's and the image's side by side (a
 * launch's claim, or a run container's create that starts it at once): split by name.
 */
export function splitLaunchColumns(r: ContainerRow & Partial<LeaseRow> & Partial<ImageColumns>): {
  row: ContainerRow;
  lease?: LeaseRow;
  image?: LaunchImage;
} {
  const row = Object.fromEntries(Object.entries(r).filter(([k]) => !LEASE_COLUMNS.has(k) && !IMAGE_COLUMNS.has(k))) as ContainerRow;
  const image: LaunchImage | undefined =
    r.image_project === null || r.image_project === undefined
      ? undefined
      : { project: r.image_project, format: r.image_format!, digest: r.image_digest ?? null, layers: r.image_layers ?? [] };
  if (r.lease_owner === null || r.lease_owner === undefined) return { row, ...(image ? { image } : {}) };
  const lease = Object.fromEntries(Object.entries(r).filter(([k]) => LEASE_COLUMNS.has(k))) as unknown as LeaseRow;
  return { row, lease, ...(image ? { image } : {}) };
}
