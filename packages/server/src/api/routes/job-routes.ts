import { jobListQuery } from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import { operation, type Operation, type ProjectScope } from '../operation';
import type { TokenIdentity } from '../../store/token-store';

/** A job id: anything else is no job, and never reaches SQL. */
const JOB_ID = /^[-a-z0-9]{1,100}$/;

/**
 * Job ids are unguessable and answer for themselves: a token of every project finds any job
 * unless it names a project; a token of one project only its project's jobs.
 */
function jobProject(actor: TokenIdentity, scope: ProjectScope): string | undefined {
  return actor.project === null && !scope.named ? undefined : scope.project;
}

/** /jobs: list, get, retry. */
export const jobOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/jobs',
    summary: "Recent lifecycle jobs of the project's containers (all-projects=true: every project's)",
    role: 'viewer',
    scope: 'project',
    success: 200,
    query: jobListQuery,
    handle: async ({ deps, scope, query: q }) => {
      let containerId: string | undefined;
      if (q.container) containerId = (await deps.containers.getByName(scope.project, q.container)).id;
      const filter = {
        ...(scope.all && !q.container ? {} : { project: scope.project }),
        ...(containerId ? { containerId } : {}),
        ...(q.state ? { state: q.state } : {}),
        ...(q.limit ? { limit: q.limit } : {}),
      };
      return { jobs: await deps.queues.list(filter) };
    },
  }),
  operation({
    method: 'get',
    path: '/jobs/{id}',
    summary: 'One job',
    role: 'viewer',
    scope: 'project',
    success: 200,
    handle: ({ req, deps, actor, scope }) => {
      const id = String(req.params.id);
      if (!JOB_ID.test(id)) throw new NagayaError('NOT_FOUND', `no job ${id}`);
      return deps.queues.get(id, jobProject(actor, scope));
    },
  }),
  operation({
    method: 'post',
    path: '/jobs/{id}/retry',
    summary: 'Retry a failed job',
    role: 'operator',
    scope: 'project',
    success: 202,
    handle: async ({ req, deps, actor, scope }) => {
      const id = String(req.params.id);
      if (!JOB_ID.test(id)) throw new NagayaError('NOT_FOUND', `no job ${id}`);
      const job = await deps.queues.retry(id, jobProject(actor, scope));
      await deps.audit.record(actor, job.project, 'job.retry', job.id);
      return job;
    },
  }),
];
