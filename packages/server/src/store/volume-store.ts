import { NagayaError } from '../errors';
import type { ContainerMountRecord } from './container-row';
import type { Db } from './db';
import { isMissingProject, projectRefusalOf } from './project-errors';

/** A volume as Postgres records it. */
export interface VolumeRow {
  id: string;
  project: string;
  name: string;
  node: string;
  sizeBytes: number | null;
  /** The filesystem project ID its size limit is kept under; null without a limit. */
  quotaId: number | null;
  createdAt: Date;
}

/** A container that mounts a volume, and where. */
export interface VolumeUser {
  volumeId: string;
  container: string;
  path: string;
  readOnly: boolean;
}

const ROW = `id, project, name, node, size_bytes::float8 AS "sizeBytes", quota_id::float8 AS "quotaId", created_at AS "createdAt"`;

/** The jsonb containment a container's mounts must have to mount volume `id` (served by the GIN index). */
const mountsVolume = (id: string) => JSON.stringify([{ volumeId: id }]);

/**
 * Volume rows: a project's volume names a node; its directory lives there. A volume is deleted
 * only while no container row mounts it, checked under the row's lock (see delete).
 */
export class VolumeStore {
  constructor(private readonly db: Db) {}

  /** A fresh filesystem project ID for a size-limited volume. */
  async nextQuotaId(): Promise<number> {
    const { rows } = await this.db.query<{ id: string }>(`SELECT nextval('volume_quota_id_seq') AS id`);
    return Number(rows[0]!.id);
  }

  /**
   * Records a volume; CONFLICT when its project has one of that name, NOT_FOUND when the project
   * is gone. The project's diskBytes quota is kept by the INSERT (trigger volume_quota): an
   * unsized volume under it is INVALID_INPUT, a size past it QUOTA_EXCEEDED.
   */
  async create(v: Omit<VolumeRow, 'createdAt'>): Promise<VolumeRow> {
    try {
      const { rows } = await this.db.query<VolumeRow>(
        `INSERT INTO volume (id, project, name, node, size_bytes, quota_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${ROW}`,
        [v.id, v.project, v.name, v.node, v.sizeBytes, v.quotaId],
      );
      return rows[0]!;
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new NagayaError('CONFLICT', `a volume named ${v.name} already exists in project ${v.project}`, { name: v.name });
      }
      if (isMissingProject(err)) throw new NagayaError('NOT_FOUND', `no project named ${v.project}`, { project: v.project });
      throw projectRefusalOf(err) ?? err;
    }
  }

  async find(project: string, name: string): Promise<VolumeRow | undefined> {
    const { rows } = await this.db.query<VolumeRow>(`SELECT ${ROW} FROM volume WHERE project = $1 AND name = $2`, [project, name]);
    return rows[0];
  }

  /** The volume of that name in the project; NOT_FOUND also when only another project has one (nothing leaks). */
  async get(project: string, name: string): Promise<VolumeRow> {
    const v = await this.find(project, name);
    if (!v) throw new NagayaError('NOT_FOUND', `no volume named ${name} in project ${project}`);
    return v;
  }

  /** The project's volumes of these names (those that exist). */
  async findMany(project: string, names: string[]): Promise<VolumeRow[]> {
    const { rows } = await this.db.query<VolumeRow>(`SELECT ${ROW} FROM volume WHERE project = $1 AND name = ANY ($2::text[])`, [
      project,
      names,
    ]);
    return rows;
  }

  /** Volumes by name; of one project, or of every project when `project` is undefined; of one node when `node` is given. */
  async list(filter: { project?: string; node?: string } = {}): Promise<VolumeRow[]> {
    const { rows } = await this.db.query<VolumeRow>(
      `SELECT ${ROW} FROM volume WHERE ($1::text IS NULL OR project = $1) AND ($2::text IS NULL OR node = $2) ORDER BY project, name`,
      [filter.project ?? null, filter.node ?? null],
    );
    return rows;
  }

  /** The ids of these that still have a row. */
  async existing(ids: string[]): Promise<Set<string>> {
    const { rows } = await this.db.query<{ id: string }>('SELECT id::text FROM volume WHERE id = ANY ($1::uuid[])', [ids]);
    return new Set(rows.map((r) => r.id));
  }

  /** The containers that mount each of these volumes. */
  async usersOf(volumeIds: string[]): Promise<VolumeUser[]> {
    if (volumeIds.length === 0) return [];
    const { rows } = await this.db.query<{ name: string; mounts: ContainerMountRecord[] }>(
      `SELECT c.name, c.mounts FROM container c
        WHERE c.mounts @> ANY (ARRAY(SELECT jsonb_build_array(jsonb_build_object('volumeId', v)) FROM unnest($1::text[]) v))
        ORDER BY c.name`,
      [volumeIds],
    );
    const wanted = new Set(volumeIds);
    return rows.flatMap((r) =>
      r.mounts.flatMap((m) =>
        m.kind === 'volume' && wanted.has(m.volumeId)
          ? [{ volumeId: m.volumeId, container: r.name, path: m.path, readOnly: m.readOnly }]
          : [],
      ),
    );
  }

  /**
   * Deletes a volume's row unless a container row, or a queued or running run, mounts it (CONFLICT, naming them) and returns
   * it, for its node to remove its directory. The row is locked FOR UPDATE first: a container
   * create locks the volumes it mounts FOR KEY SHARE in its own statement, so this waits for
   * such a create to commit (and then sees its row), and a create that comes later waits for
   * this delete and finds no volume.
   */
  async delete(project: string, name: string): Promise<VolumeRow> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<VolumeRow>(`SELECT ${ROW} FROM volume WHERE project = $1 AND name = $2 FOR UPDATE`, [project, name]);
      const volume = rows[0];
      if (!volume) throw new NagayaError('NOT_FOUND', `no volume named ${name} in project ${project}`);
      const users = await tx.query<{ name: string }>('SELECT name FROM container WHERE mounts @> $1::jsonb ORDER BY name', [
        mountsVolume(volume.id),
      ]);
      // a run that waits for its turn, or runs, mounts it when its attempt starts (as Kubernetes
      // keeps a claim a pod names): it may not go from under it
      const runs = await tx.query<{ id: string }>(
        `SELECT id FROM run WHERE project = $1 AND state IN ('queued', 'running')
            AND jsonb_path_exists(coalesce(spec->'mounts', '[]'::jsonb), '$[*] ? (@.volume == $v)', jsonb_build_object('v', $2::text))
          ORDER BY created_at LIMIT 20`,
        [project, name],
      );
      if (runs.rows.length > 0) {
        const ids = runs.rows.map((r) => r.id);
        throw new NagayaError(
          'CONFLICT',
          `volume ${name} is mounted by ${ids.length === 1 ? 'run' : 'runs'} ${ids.join(', ')} (queued or running)`,
          {
            runs: ids,
          },
        );
      }
      if (users.rows.length > 0) {
        const names = users.rows.map((r) => r.name);
        throw new NagayaError(
          'CONFLICT',
          `volume ${name} is mounted by ${names.length === 1 ? 'container' : 'containers'} ${names.join(', ')}`,
          {
            containers: names,
          },
        );
      }
      await tx.query('DELETE FROM volume WHERE id = $1', [volume.id]);
      return volume;
    });
  }
}
