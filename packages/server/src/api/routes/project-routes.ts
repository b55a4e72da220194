import type { ProjectView } from '@nagaya/contract';
import { auditQuery, createProjectSchema, dnsLabel, patchProjectSchema } from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import type { TokenIdentity } from '../../store/token-store';
import { operation, type Operation, type Sendable } from '../operation';

const byName = { name: dnsLabel };

/** A token of one project sees that project alone: any other is NOT_FOUND, as if it did not exist. */
function requireVisible(actor: TokenIdentity, name: string): void {
  if (actor.project !== null && actor.project !== name) throw new NagayaError('NOT_FOUND', `no project named ${name}`);
}

/** /projects: tenants with their own containers, images, tokens and quotas; and /audit, the trail of what was done. */
export const projectOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/projects',
    summary: "Projects with each quota's limit and use (a token of one project: its own)",
    role: 'viewer',
    scope: 'fleet',
    success: 200,
    handle: async ({ deps, actor }) => ({
      projects: (await deps.projects.list(actor.project ?? undefined)) satisfies Array<Sendable<ProjectView>>,
    }),
  }),
  operation({
    method: 'post',
    path: '/projects',
    summary: 'Create a project, optionally with quotas',
    role: 'admin',
    scope: 'fleet',
    success: 201,
    body: createProjectSchema,
    handle: async ({ deps, actor, body }) => {
      const project = await deps.projects.create(body);
      await deps.audit.record(actor, body.name, 'project.create', body.name, body);
      return project satisfies Sendable<ProjectView>;
    },
  }),
  operation({
    method: 'get',
    path: '/projects/{name}',
    summary: "One project with each quota's limit and use",
    role: 'viewer',
    scope: 'fleet',
    success: 200,
    params: byName,
    handle: ({ deps, actor, params }) => {
      requireVisible(actor, params.name);
      return deps.projects.get(params.name);
    },
  }),
  operation({
    method: 'patch',
    path: '/projects/{name}',
    summary: 'Change a project: description, quotas (null removes one; lower than use blocks new creates only), rawIdmapAllowed',
    role: 'admin',
    scope: 'fleet',
    success: 200,
    body: patchProjectSchema,
    params: byName,
    handle: async ({ deps, actor, body, params }) => {
      const project = await deps.projects.patch(params.name, body);
      await deps.audit.record(actor, params.name, 'project.update', params.name, body);
      return project satisfies Sendable<ProjectView>;
    },
  }),
  operation({
    method: 'delete',
    path: '/projects/{name}',
    summary:
      'Delete an empty project (409 while it holds containers, images, volumes, unfinished runs, run schedules or live tokens; never default)',
    role: 'admin',
    scope: 'fleet',
    success: 200,
    params: byName,
    handle: async ({ deps, actor, params }) => {
      // Schedules live in Redis, outside the transaction that locks the project row: they are
      // counted first (a Redis outage refuses the delete rather than guessing), and any made
      // between this count and the commit is removed after it. A schedule made in that window
      // whose maker checked the project before the commit was answered 201 and is removed here;
      // one whose maker checks after the commit is taken back by its maker (RunService.submit).
      // What remains: a crash between the commit and the sweep leaves a schedule of a project
      // that is gone; its ticks fail to insert their runs (the project foreign key) and do nothing.
      const schedules = (await deps.runService.schedules(params.name)).length;
      await deps.projects.delete(params.name, { schedules });
      await deps.runService.dropSchedulesOf(params.name);
      await deps.audit.record(actor, params.name, 'project.delete', params.name);
      return { deleted: params.name };
    },
  }),
  operation({
    method: 'get',
    path: '/audit',
    summary: 'The audit trail, newest first: actor, project, action, target (admin tokens of every project)',
    role: 'admin',
    scope: 'fleet',
    success: 200,
    query: auditQuery,
    handle: async ({ deps, query }) => ({ events: await deps.audit.list(query) }),
  }),
];
