import { NagayaError } from '../errors';
import type { Db } from '../store/db';
import { isMissingProject, projectRefusalOf } from '../store/project-errors';
import type { ImageRunConfig } from './image-config';

/** How an image came to be; `directory` is one tree on disk (busybox, uploads of earlier releases). */
export type ImageFormat = 'directory' | 'rootfs' | 'oci-layout' | 'docker-save' | 'docker-save-oci' | 'registry';

/** An image as Postgres records it. */
export interface ImageRecord {
  project: string;
  name: string;
  format: ImageFormat;
  /** The manifest's digest (what the fleet's registry holds it by); null for a directory image. */
  digest: string | null;
  config: ImageRunConfig;
  /** diff_ids, bottom first; empty for a directory image. */
  layers: string[];
  /** The digest of each layer's blob, beside layers; null for a directory image and images recorded before they were kept (checked in full at import). */
  layerDigests: string[] | null;
  layerSizes: number[];
  reference: string | null;
  sizeBytes: number;
  files: number;
  source: string;
  createdAt: string;
  /** The nodes that hold every layer (for a directory image: none recorded). */
  nodes: string[];
}

/** What an import or a pull records. */
export interface NewImage {
  project: string;
  name: string;
  format: Exclude<ImageFormat, 'directory'>;
  digest: string;
  config: ImageRunConfig;
  layers: Array<{ diffId: string; digest: string; sizeBytes: number }>;
  reference: string | null;
  files: number;
  source: string;
  /** The node whose store holds the layers now. */
  node: string;
}

const RECORD = `i.project, i.name, i.format, i.digest, i.config, i.layers, i.layer_digests AS "layerDigests", i.reference, i.size_bytes AS "sizeBytes", i.files, i.source,
  i.created_at AS "createdAt",
  ARRAY(SELECT coalesce(l.size_bytes, 0) FROM unnest(i.layers) WITH ORDINALITY AS u(d, n) LEFT JOIN image_layer l ON l.diff_id = u.d ORDER BY u.n)
    AS "layerSizes",
  CASE WHEN cardinality(i.layers) = 0 THEN '{}'::text[] ELSE ARRAY(
    SELECT nl.node FROM node_layer nl WHERE nl.diff_id = ANY (i.layers)
     GROUP BY nl.node HAVING count(DISTINCT nl.diff_id) = cardinality(i.layers) ORDER BY nl.node) END AS nodes`;

interface Row extends Omit<ImageRecord, 'sizeBytes' | 'files' | 'createdAt' | 'layerSizes'> {
  sizeBytes: string;
  files: string;
  createdAt: Date;
  layerSizes: string[];
}

const toRecord = (r: Row): ImageRecord => ({
  ...r,
  sizeBytes: Number(r.sizeBytes),
  files: Number(r.files),
  createdAt: r.createdAt.toISOString(),
  layerSizes: r.layerSizes.map(Number),
});

/**
 * Images in Postgres: one row per (project, name), its layers by diff_id, and which node holds
 * which layer. Recording an image checks its project's diskBytes quota in the insert's trigger.
 * The rule "a project's own image, else a built-in one" is `visible` below and nowhere else.
 */
export class ImageRecords {
  constructor(
    private readonly db: Db,
    private readonly builtIn: { project: string; source: string },
  ) {}

  /** The image a container of `project` named `name` runs: its project's own, else a built-in one. */
  async visible(project: string, name: string): Promise<ImageRecord | undefined> {
    const { rows } = await this.db.query<Row>(
      `SELECT ${RECORD} FROM image i
        WHERE i.name = $2 AND (i.project = $1 OR (i.project = $3 AND i.source = $4))
        ORDER BY i.project = $1 DESC LIMIT 1`,
      [project, name, this.builtIn.project, this.builtIn.source],
    );
    return rows[0] && toRecord(rows[0]);
  }

  /** A project's images and the built-in ones (every image when no project is given). */
  async list(project?: string): Promise<ImageRecord[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT ${RECORD} FROM image i
        WHERE $1::text IS NULL OR i.project = $1 OR (i.project = $2 AND i.source = $3)
        ORDER BY i.project, i.name`,
      [project ?? null, this.builtIn.project, this.builtIn.source],
    );
    return rows.map(toRecord);
  }

  /**
   * Records an image, its layers (known ones are shared) and the node that holds them, in one
   * statement. CONFLICT when the name is taken; the project's trigger refuses one past its
   * diskBytes quota (QUOTA_EXCEEDED).
   */
  async insert(image: NewImage): Promise<void> {
    const sizeBytes = image.layers.reduce((sum, l) => sum + l.sizeBytes, 0);
    try {
      await this.db.query(
        `WITH layer AS (
           INSERT INTO image_layer (diff_id, size_bytes)
           SELECT * FROM unnest($7::text[], $8::bigint[]) ON CONFLICT (diff_id) DO NOTHING
         ), held AS (
           INSERT INTO node_layer (node, diff_id)
           SELECT $11, d FROM unnest($7::text[]) AS d ON CONFLICT DO NOTHING
         )
         INSERT INTO image (project, name, format, digest, config, layers, layer_digests, reference, size_bytes, files, source)
         VALUES ($1, $2, $3, $4, $5, $7, $13, $6, $9, $10, $12)`,
        [
          image.project,
          image.name,
          image.format,
          image.digest,
          JSON.stringify(image.config),
          image.reference,
          image.layers.map((l) => l.diffId),
          image.layers.map((l) => l.sizeBytes),
          sizeBytes,
          image.files,
          image.node,
          image.source,
          image.layers.map((l) => l.digest),
        ],
      );
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '23505') throw new NagayaError('CONFLICT', `image ${image.name} already exists in project ${image.project}`);
      // a layer row deleted by a concurrent image delete between the CTE and node_layer's check: the caller may retry
      if (code === '23503' && !isMissingProject(err))
        throw new NagayaError('CONFLICT', 'a layer of the image was removed meanwhile; try again');
      if (isMissingProject(err)) throw new NagayaError('NOT_FOUND', `no project named ${image.project}`, { project: image.project });
      throw projectRefusalOf(err) ?? err;
    }
  }

  /**
   * Deletes an image unless a container of its project still names it (CONFLICT, with how many),
   * only the one of that manifest digest when one is given (NOT_FOUND if the name is another's
   * now), and returns the layers no image uses any more (their rows gone; each node removes its copy).
   */
  async delete(project: string, name: string, digest?: string): Promise<{ unusedLayers: string[] }> {
    return this.db.transaction(async (tx) => {
      const image = await tx.query<{ layers: string[] }>(
        'SELECT layers FROM image WHERE project = $1 AND name = $2 AND ($3::text IS NULL OR digest = $3) FOR UPDATE',
        [project, name, digest ?? null],
      );
      if (!image.rows[0]) throw new NagayaError('NOT_FOUND', `no image named ${name} in project ${project}`);
      // A create locks the image row FOR KEY SHARE in its statement: this lock waits for such a
      // create to commit (and the count below sees its container), and a create that comes later
      // waits for this delete and then finds no image.
      const users = await tx.query<{ n: string }>('SELECT count(*) AS n FROM container WHERE project = $1 AND image = $2', [project, name]);
      const n = Number(users.rows[0]!.n);
      if (n > 0)
        throw new NagayaError('CONFLICT', `image ${name} is used by ${n} container${n === 1 ? '' : 's'} of project ${project}`, {
          containers: n,
        });
      await tx.query('DELETE FROM image WHERE project = $1 AND name = $2', [project, name]);
      const gone = await tx.query<{ diff_id: string }>(
        `DELETE FROM image_layer l WHERE l.diff_id = ANY ($1::text[])
            AND NOT EXISTS (SELECT 1 FROM image i WHERE l.diff_id = ANY (i.layers))
          RETURNING l.diff_id`,
        [image.rows[0].layers],
      );
      return { unusedLayers: gone.rows.map((r) => r.diff_id) };
    });
  }

  /**
   * Records the user and group names read from an image's layers once they unpacked. Only the
   * image as it was read (same digest, names still pending): an image replaced meanwhile keeps
   * its own.
   */
  async setIdentities(manifestDigest: string, passwd: Record<string, [number, number]>, groups: Record<string, number>): Promise<void> {
    await this.db.query(
      `UPDATE image SET config = (config - 'identitiesPending') || jsonb_build_object('passwd', $2::jsonb, 'groups', $3::jsonb)
        WHERE digest = $1 AND config ? 'identitiesPending'`,
      [manifestDigest, JSON.stringify(passwd), JSON.stringify(groups)],
    );
  }

  /** Records that these layer blobs were checked against their diff_ids (a fact of their bytes, for every node). */
  async markChecked(blobs: Array<{ diffId: string; digest: string }>): Promise<void> {
    if (blobs.length === 0) return;
    await this.db.query(
      `INSERT INTO layer_blob (diff_id, digest) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (diff_id, digest) DO UPDATE SET verified_at = now()`,
      [blobs.map((b) => b.diffId), blobs.map((b) => b.digest)],
    );
  }

  /**
   * Records the unpacked sizes of layers that an import kept packed (their recorded size was
   * their blob's), and the sizes of the images that have them, in one transaction: GET /images
   * then says of them what it says of an eager import's, and each project's disk use follows.
   */
  async recordUnpackedSizes(layers: Array<{ diffId: string; sizeBytes: number }>): Promise<void> {
    if (layers.length === 0) return;
    const diffIds = layers.map((l) => l.diffId);
    await this.db.transaction(async (tx) => {
      const { rowCount } = await tx.query(
        `UPDATE image_layer l SET size_bytes = u.s FROM unnest($1::text[], $2::bigint[]) AS u(d, s)
          WHERE l.diff_id = u.d AND l.size_bytes IS DISTINCT FROM u.s`,
        [diffIds, layers.map((l) => l.sizeBytes)],
      );
      if (!rowCount) return;
      await tx.query(
        `UPDATE image i SET size_bytes = s.total
           FROM (SELECT i2.project, i2.name, (SELECT coalesce(sum(l.size_bytes), 0) FROM unnest(i2.layers) AS d
                   JOIN image_layer l ON l.diff_id = d)::bigint AS total
                   FROM image i2 WHERE i2.layers && $1::text[]) s
          WHERE i.project = s.project AND i.name = s.name AND i.size_bytes <> s.total`,
        [diffIds],
      );
    });
  }

  /** Of these layer blobs, the ones some node checked, as "diff_id digest" keys. */
  async checked(blobs: Array<{ diffId: string; digest: string }>): Promise<Set<string>> {
    const { rows } = await this.db.query<{ k: string }>(
      `SELECT lb.diff_id || ' ' || lb.digest AS k FROM layer_blob lb
         JOIN unnest($1::text[], $2::text[]) AS u(d, g) ON lb.diff_id = u.d AND lb.digest = u.g`,
      [blobs.map((b) => b.diffId), blobs.map((b) => b.digest)],
    );
    return new Set(rows.map((r) => r.k));
  }

  /** The images (any project) that have this layer blob: those a refusal of it takes back. */
  async withBlob(blob: { diffId: string; digest: string }): Promise<Array<{ project: string; name: string; digest: string }>> {
    const { rows } = await this.db.query<{ project: string; name: string; digest: string }>(
      `SELECT i.project, i.name, i.digest FROM image i
        WHERE i.layer_digests IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(i.layers, i.layer_digests) AS u(d, g) WHERE u.d = $1 AND u.g = $2)`,
      [blob.diffId, blob.digest],
    );
    return rows;
  }

  /** The layer blobs some image has, as "diff_id digest" keys (a node keeps these packed, and removes the rest). */
  async usedBlobs(): Promise<Set<string>> {
    const { rows } = await this.db.query<{ k: string }>(
      `SELECT DISTINCT u.d || ' ' || u.g AS k FROM image i, unnest(i.layers, i.layer_digests) AS u(d, g) WHERE i.layer_digests IS NOT NULL`,
    );
    return new Set(rows.map((r) => r.k));
  }

  /** Forgets checks of blobs no image has, done more than graceMs ago (an import records its checks before its image). */
  async forgetUnusedChecks(graceMs: number): Promise<number> {
    const { rowCount } = await this.db.query(
      `DELETE FROM layer_blob lb WHERE lb.verified_at < now() - $1 * interval '1 millisecond'
          AND NOT EXISTS (SELECT 1 FROM image i, unnest(i.layers, i.layer_digests) AS u(d, g)
                           WHERE i.layer_digests IS NOT NULL AND u.d = lb.diff_id AND u.g = lb.digest)`,
      [graceMs],
    );
    return rowCount ?? 0;
  }

  /** The images whose layers no node has unpacked yet (their user names still to be read). */
  async pendingUnpack(): Promise<ImageRecord[]> {
    const { rows } = await this.db.query<Row>(`SELECT ${RECORD} FROM image i WHERE i.config ? 'identitiesPending'`);
    return rows.map(toRecord);
  }

  /** Records that `node` holds these layers now. */
  async holds(node: string, diffIds: string[]): Promise<void> {
    await this.db.query(
      `INSERT INTO node_layer (node, diff_id) SELECT $1, d FROM unnest($2::text[]) AS d
        WHERE EXISTS (SELECT 1 FROM image_layer WHERE diff_id = d) ON CONFLICT DO NOTHING`,
      [node, diffIds],
    );
  }

  /** The layers that some image still uses (a node keeps these and removes the rest of its store). */
  async usedLayers(): Promise<Set<string>> {
    const { rows } = await this.db.query<{ diff_id: string }>('SELECT diff_id FROM image_layer');
    return new Set(rows.map((r) => r.diff_id));
  }

  /** The layers Postgres says `node` holds. */
  async heldBy(node: string): Promise<Set<string>> {
    const { rows } = await this.db.query<{ diff_id: string }>('SELECT diff_id FROM node_layer WHERE node = $1', [node]);
    return new Set(rows.map((r) => r.diff_id));
  }

  /** Forgets that `node` holds these layers (it removed them). */
  async released(node: string, diffIds: string[]): Promise<void> {
    await this.db.query('DELETE FROM node_layer WHERE node = $1 AND diff_id = ANY ($2::text[])', [node, diffIds]);
  }
}
