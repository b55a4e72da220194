import { runTransaction } from '@nagaya/allocator';
import { DEFAULT_PROJECT, QUOTA_NAMES, type ProjectView, type QuotaName } from '@nagaya/contract';
import type { CreateProjectInput, PatchProjectInput } from '@nagaya/contract/schemas';
import { NagayaError } from '../errors';
import type { Db } from './db';
import { isUniqueViolation } from './db';

export { DEFAULT_PROJECT };

/** Each quota's column in `project`, and its use's column in the `project_usage` view. */
const QUOTA_COLUMNS: Record<QuotaName, { quota: string; usage: string }> = {
  containers: { quota: 'quota_containers', usage: 'containers' },
  slices: { quota: 'quota_slices', usage: 'slices' },
  memoryBytes: { quota: 'quota_memory_bytes', usage: 'memory_bytes' },
  cpus: { quota: 'quota_cpus', usage: 'cpus' },
  processes: { quota: 'quota_processes', usage: 'processes' },
  diskBytes: { quota: 'quota_disk_bytes', usage: 'disk_bytes' },
  networkInterfaces: { quota: 'quota_network_interfaces', usage: 'network_interfaces' },
};

const VIEW_COLUMNS = [
  'p.name',
  'p.description',
  'p.raw_idmap_allowed',
  'p.created_at',
  ...QUOTA_NAMES.flatMap((q) => [`p.${QUOTA_COLUMNS[q].quota}`, `u.${QUOTA_COLUMNS[q].usage}`]),
].join(', ');

type ProjectRow = Record<string, string | number | boolean | Date | null>;

/** numeric and bigint come back from pg as strings; quotas and uses are numbers on the wire. */
const num = (v: unknown): number => Number(v);

function viewOf(r: ProjectRow): ProjectView {
  const quotas = Object.fromEntries(
    QUOTA_NAMES.map((q) => {
      const limit = r[QUOTA_COLUMNS[q].quota];
      return [q, { limit: limit === null ? null : num(limit), used: num(r[QUOTA_COLUMNS[q].usage]) }];
    }),
  ) as ProjectView['quotas'];
  return {
    name: String(r.name),
    description: String(r.description),
    rawIdmapAllowed: r.raw_idmap_allowed === true,
    quotas,
    createdAt: (r.created_at as Date).toISOString(),
  };
}

/** What keeps a project from being deleted. */
interface ProjectContents {
  containers: number;
  images: number;
  volumes: number;
  tokens: number;
  /** Runs not finished yet (queued, delayed or running): their rows would go with the project. */
  runs: number;
  /** Run schedules, kept in Redis: the caller counts them (see the delete route). */
  schedules: number;
}

/**
 * Projects: their settings, quotas and use. The quotas themselves are kept by Postgres (the
 * triggers of migration Projects1764800000000), in the statement that takes the resource.
 */
export class ProjectStore {
  constructor(private readonly db: Db) {}

  async list(only?: string): Promise<ProjectView[]> {
    const { rows } = await this.db.query<ProjectRow>(
      `SELECT ${VIEW_COLUMNS} FROM project p JOIN project_usage u ON u.project = p.name
        WHERE ($1::text IS NULL OR p.name = $1) ORDER BY p.name = 'default' DESC, p.name`,
      [only ?? null],
    );
    return rows.map(viewOf);
  }

  /** The project with each quota's use; NOT_FOUND when there is none. */
  async get(name: string): Promise<ProjectView> {
    const [view] = await this.list(name);
    if (!view) throw new NagayaError('NOT_FOUND', `no project named ${name}`);
    return view;
  }

  async exists(name: string): Promise<boolean> {
    const { rowCount } = await this.db.query('SELECT 1 FROM project WHERE name = $1', [name]);
    return (rowCount ?? 0) > 0;
  }

  /** CONFLICT when the name is taken. */
  async create(input: CreateProjectInput): Promise<ProjectView> {
    const quotas = input.quotas ?? {};
    const columns = ['name', 'description', 'raw_idmap_allowed'];
    const values: unknown[] = [input.name, input.description ?? '', input.rawIdmapAllowed ?? false];
    for (const q of QUOTA_NAMES) {
      if (quotas[q] === undefined) continue;
      columns.push(QUOTA_COLUMNS[q].quota);
      values.push(quotas[q]);
    }
    try {
      await this.db.query(`INSERT INTO project (${columns.join(', ')}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`, values);
    } catch (err) {
      if (isUniqueViolation(err)) throw new NagayaError('CONFLICT', `a project named ${input.name} already exists`, { name: input.name });
      throw err;
    }
    return this.get(input.name);
  }

  /**
   * Changes a project's description, quotas (null removes one) or rawIdmapAllowed. A quota may
   * go below current use: that blocks new creates and never touches what exists.
   */
  async patch(name: string, change: PatchProjectInput): Promise<ProjectView> {
    const sets: string[] = [];
    const values: unknown[] = [name];
    const set = (column: string, value: unknown) => {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    if (change.description !== undefined) set('description', change.description);
    if (change.rawIdmapAllowed !== undefined) set('raw_idmap_allowed', change.rawIdmapAllowed);
    for (const q of QUOTA_NAMES) {
      const value = change.quotas?.[q];
      if (value !== undefined) set(QUOTA_COLUMNS[q].quota, value);
    }
    if (sets.length) {
      const { rowCount } = await this.db.query(`UPDATE project SET ${sets.join(', ')} WHERE name = $1`, values);
      if (!rowCount) throw new NagayaError('NOT_FOUND', `no project named ${name}`);
    }
    return this.get(name);
  }

  /**
   * Deletes an empty project: CONFLICT while it holds containers, images, volumes, unfinished
   * runs, run schedules (`schedules`, counted by the caller in Redis) or live tokens (revoked ones
   * go with it), and always for `default`. The row lock makes a create racing the delete (a
   * container, image, volume, token or run row: each takes a key-share lock on the project row)
   * either finish first (and the delete refuse) or find no project.
   */
  async delete(name: string, counted: { schedules: number } = { schedules: 0 }): Promise<void> {
    if (name === DEFAULT_PROJECT) throw new NagayaError('CONFLICT', 'the default project cannot be deleted');
    await runTransaction(this.db.pool, async (client) => {
      const locked = await client.query('SELECT 1 FROM project WHERE name = $1 FOR UPDATE', [name]);
      if (!locked.rowCount) throw new NagayaError('NOT_FOUND', `no project named ${name}`);
      const { rows } = await client.query<Omit<ProjectContents, 'schedules'>>(
        `SELECT (SELECT count(*) FROM container WHERE project = $1)::int AS containers,
                (SELECT count(*) FROM image WHERE project = $1)::int AS images,
                (SELECT count(*) FROM volume WHERE project = $1)::int AS volumes,
                (SELECT count(*) FROM api_token WHERE project = $1 AND revoked_at IS NULL)::int AS tokens,
                (SELECT count(*) FROM run WHERE project = $1 AND state IN ('queued', 'running'))::int AS runs`,
        [name],
      );
      const contents: ProjectContents = { ...rows[0]!, schedules: counted.schedules };
      if (Object.values(contents).some((n) => n > 0)) {
        const what = Object.entries(contents)
          .filter(([, n]) => n > 0)
          .map(([kind, n]) => `${n} ${kind}`)
          .join(', ');
        throw new NagayaError(
          'CONFLICT',
          `project ${name} is not empty: it holds ${what} (delete them, cancel the runs, remove the schedules, revoke the tokens, then retry)`,
          { ...contents },
        );
      }
      await client.query('DELETE FROM project WHERE name = $1', [name]);
    });
  }
}
