import type { Express, Request, Response, Router } from 'express';
import { projectScopeQuery } from '@nagaya/contract/schemas';
import { NagayaError } from '../errors';
import { DEFAULT_PROJECT } from '../store/project-store';
import type { TokenIdentity } from '../store/token-store';
import { requireRole } from './auth';
import type { Operation, ProjectScope, RouteDeps } from './operation';

/**
 * Registers every operation of the table in one loop. Each request goes the same way: role,
 * project scope, then headers, query, body and path parameters against the operation's schemas,
 * then the handler, whose return value is the JSON answer with the operation's success status.
 * Operations without a role go on the app itself, ahead of authentication.
 */
export function registerOperations(app: Express, api: Router, operations: readonly Operation[], deps: RouteDeps): void {
  for (const op of operations) {
    const handler = async (req: Request, res: Response) => {
      const actor = op.role === 'none' ? undefined : requireRole(res, op.role);
      if (actor && op.scope === 'fleet' && op.role === 'admin' && actor.project !== null) {
        throw new NagayaError(
          'FORBIDDEN',
          `this needs an admin token of every project; the token ${actor.name} is of project ${actor.project}`,
        );
      }
      let rawQuery: Record<string, unknown> = req.query;
      let scope: ProjectScope | undefined;
      if (actor && op.scope === 'project') {
        const { project, 'all-projects': all, ...rest } = req.query;
        rawQuery = rest;
        scope = await resolveScope(deps, actor, projectScopeQuery.parse({ project, 'all-projects': all }));
      }
      for (const [name, schema] of Object.entries(op.headers ?? {})) schema.parse(req.get(name));
      const query = op.query?.parse(rawQuery);
      const body = op.body?.parse(op.bodyMayBeAbsent ? (req.body ?? {}) : req.body);
      const params = Object.fromEntries(Object.entries(op.params ?? {}).map(([name, schema]) => [name, schema.parse(req.params[name])]));
      const result = await op.handle({ req, res, deps, actor: actor as TokenIdentity, scope: scope as ProjectScope, body, query, params });
      if (!res.headersSent) res.status(op.success).json(result);
    };
    const path = op.path.replace(/\{(\w+)\}/g, ':$1');
    if (op.role === 'none') app[op.method](`/api/v1${path}`, handler);
    else api[op.method](path, handler);
  }
}

/**
 * The project a request acts in. A token of one project acts in it alone: naming another is
 * NOT_FOUND (the same answer as for a project that does not exist, so names do not leak).
 */
async function resolveScope(
  deps: RouteDeps,
  actor: TokenIdentity,
  asked: { project?: string; 'all-projects'?: 'true' | 'false' },
): Promise<ProjectScope> {
  const all = asked['all-projects'] === 'true';
  if (actor.project !== null) {
    if (asked.project !== undefined && asked.project !== actor.project)
      throw new NagayaError('NOT_FOUND', `no project named ${asked.project}`);
    if (all)
      throw new NagayaError(
        'FORBIDDEN',
        `all-projects needs an admin token of every project; the token ${actor.name} is of project ${actor.project}`,
      );
    return { project: actor.project, all: false, named: true };
  }
  if (asked.project === undefined) return { project: DEFAULT_PROJECT, all, named: false };
  if (all) throw new NagayaError('INVALID_INPUT', 'give project or all-projects=true, not both');
  if (!(await deps.projects.exists(asked.project))) throw new NagayaError('NOT_FOUND', `no project named ${asked.project}`);
  return { project: asked.project, all: false, named: true };
}
