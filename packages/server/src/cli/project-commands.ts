// `nagaya projects ...` and `nagaya audit`: the fleet-wide commands of projects (tenants), their
// quotas and the audit trail. Quota options map one to one onto the contract's QUOTA_NAMES.
import { ApiError, type AuditEventView, type ProjectView, QUOTA_MEANINGS, QUOTA_NAMES, type QuotaName } from '@nagaya/contract';
import type { ApiClient } from './api-client';
import { bytes, table, type Out } from './format';
import { decimalOption, sizeOption, wholeNumberOption } from './options';

/** The CLI option of each quota (the object is keyed by QuotaName, so a new quota cannot be forgotten here). */
export const QUOTA_OPTIONS: Record<QuotaName, string> = {
  containers: 'containers',
  slices: 'slices',
  memoryBytes: 'memory',
  cpus: 'cpus',
  processes: 'processes',
  diskBytes: 'disk',
  networkInterfaces: 'network-interfaces',
};

const BYTE_QUOTAS: ReadonlySet<QuotaName> = new Set(['memoryBytes', 'diskBytes']);

/** The options of the projects and audit commands, as parseArgs gives them. */
export type ProjectOptions = Partial<Record<string, string | boolean | string[] | undefined>> & {
  description?: string;
  'raw-idmap'?: string;
  since?: string;
  limit?: string;
};

const usage = (message: string) => new ApiError(0, 'INVALID_INPUT', message);

/** A quota's value as the API takes it; `none` is null (no limit). */
function quotaValue(quota: QuotaName, text: string): number | null {
  if (text === 'none') return null;
  const option = QUOTA_OPTIONS[quota];
  try {
    if (BYTE_QUOTAS.has(quota)) return sizeOption(option, text)!;
    return (quota === 'cpus' ? decimalOption(option, text) : wholeNumberOption(option, text))!;
  } catch (err) {
    throw err instanceof ApiError ? usage(`${err.message} (or none: no limit)`) : err;
  }
}

/** The quotas the options name: a number sets one, none removes it (null), an absent option is absent. */
function quotasOf(options: ProjectOptions): Partial<Record<QuotaName, number | null>> {
  const quotas: Partial<Record<QuotaName, number | null>> = {};
  for (const quota of QUOTA_NAMES) {
    const text = options[QUOTA_OPTIONS[quota]];
    if (typeof text === 'string') quotas[quota] = quotaValue(quota, text);
  }
  return quotas;
}

function rawIdmapOf(options: ProjectOptions): boolean | undefined {
  const v = options['raw-idmap'];
  if (v === undefined) return undefined;
  if (v !== 'true' && v !== 'false') throw usage(`--raw-idmap takes true or false, not ${JSON.stringify(v)}`);
  return v === 'true';
}

/** A quota's number for people: bytes in IEC units, the rest as they are; '-' for no limit. */
function quantity(quota: QuotaName, n: number | null): string {
  if (n === null) return '-';
  return BYTE_QUOTAS.has(quota) ? bytes(n) : String(n);
}

const useOf = (p: ProjectView, quota: QuotaName) => `${quantity(quota, p.quotas[quota].used)}/${quantity(quota, p.quotas[quota].limit)}`;

function showProject(p: ProjectView): string {
  return [
    `name:        ${p.name}`,
    `description: ${p.description || '-'}`,
    `raw idmap:   ${p.rawIdmapAllowed ? 'allowed' : 'not allowed'}`,
    `created:     ${p.createdAt}`,
    '',
    table(
      QUOTA_NAMES.map((quota) => ({
        quota,
        option: `--${QUOTA_OPTIONS[quota]}`,
        limit: quantity(quota, p.quotas[quota].limit),
        used: quantity(quota, p.quotas[quota].used),
        meaning: QUOTA_MEANINGS[quota],
      })),
      ['quota', 'option', 'limit', 'used', 'meaning'],
    ),
  ].join('\n');
}

/** `nagaya projects [list] | show | create | set | delete`. */
export async function projectsCommand(client: ApiClient, args: string[], options: ProjectOptions, out: Out): Promise<void> {
  const [sub = 'list', name] = args;
  const path = () => {
    if (!name) throw usage(`projects ${sub} needs a project name`);
    return `/projects/${encodeURIComponent(name)}`;
  };
  switch (sub) {
    case 'list': {
      const { projects } = await client.get<{ projects: ProjectView[] }>('/projects');
      out(projects, () =>
        table(
          projects.map((p) => ({
            name: p.name,
            containers: useOf(p, 'containers'),
            slices: useOf(p, 'slices'),
            memory: useOf(p, 'memoryBytes'),
            cpus: useOf(p, 'cpus'),
            processes: useOf(p, 'processes'),
            disk: useOf(p, 'diskBytes'),
            'raw-idmap': p.rawIdmapAllowed ? 'yes' : 'no',
            description: p.description || undefined,
          })),
          ['name', 'containers', 'slices', 'memory', 'cpus', 'processes', 'disk', 'raw-idmap', 'description'],
        ),
      );
      return;
    }
    case 'show': {
      const p = await client.get<ProjectView>(path());
      out(p, () => showProject(p));
      return;
    }
    case 'create': {
      path();
      const quotas = Object.fromEntries(Object.entries(quotasOf(options)).filter(([, v]) => v !== null));
      const raw = rawIdmapOf(options);
      const p = await client.post<ProjectView>('/projects', {
        name,
        ...(options.description === undefined ? {} : { description: options.description }),
        ...(Object.keys(quotas).length ? { quotas } : {}),
        ...(raw === undefined ? {} : { rawIdmapAllowed: raw }),
      });
      out(p, () => `project ${p.name} created\n\n${showProject(p)}`);
      return;
    }
    case 'set': {
      const target = path();
      const quotas = quotasOf(options);
      const raw = rawIdmapOf(options);
      const body = {
        ...(options.description === undefined ? {} : { description: options.description }),
        ...(Object.keys(quotas).length ? { quotas } : {}),
        ...(raw === undefined ? {} : { rawIdmapAllowed: raw }),
      };
      if (!Object.keys(body).length)
        throw usage('projects set <name> needs something to change: a quota option, --raw-idmap or --description');
      const p = await client.patch<ProjectView>(target, body);
      out(p, () => `project ${p.name} changed\n\n${showProject(p)}`);
      return;
    }
    case 'delete': {
      const res = await client.delete<{ deleted: string }>(path());
      out(res, () => `project ${res.deleted} deleted`);
      return;
    }
    default:
      throw usage(`projects ${sub}: use projects list, show, create, set or delete`);
  }
}

/** `nagaya audit [--project P] [--since ISO] [--limit N]`: the trail, newest first. */
export async function auditCommand(client: ApiClient, project: string | undefined, options: ProjectOptions, out: Out): Promise<void> {
  const q = new URLSearchParams();
  if (project !== undefined) q.set('project', project);
  if (options.since !== undefined) q.set('since', options.since);
  if (options.limit !== undefined) q.set('limit', options.limit);
  const { events } = await client.get<{ events: AuditEventView[] }>(`/audit${q.size ? `?${q}` : ''}`);
  out(events, () => table(events, ['at', 'actor', 'project', 'action', 'target']));
}
