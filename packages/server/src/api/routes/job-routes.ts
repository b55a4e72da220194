import { jobListQuery } from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import { operation, type Operation } from '../operation';

/** A job id: anything else is no job, and never reaches SQL. */
const JOB_ID = /^[-a-z0-9]{1,100}$/;

/** /jobs: list, get, retry. */
export const jobOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/jobs',
    summary: 'Recent lifecycle jobs',
    role: 'viewer',
    success: 200,
    query: jobListQuery,
    handle: async ({ deps, query: q }) => {
      let containerId: string | undefined;
      if (q.container) containerId = (await deps.containers.getByName(q.container)).id;
      const filter = {
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
    success: 200,
    handle: ({ req, deps }) => {
      const id = String(req.params.id);
      if (!JOB_ID.test(id)) throw new NagayaError('NOT_FOUND', `no job ${id}`);
      return deps.queues.get(id);
    },
  }),
  operation({
    method: 'post',
    path: '/jobs/{id}/retry',
    summary: 'Retry a failed job',
    role: 'operator',
    success: 202,
    handle: async ({ req, deps, actor }) => {
      const id = String(req.params.id);
      if (!JOB_ID.test(id)) throw new NagayaError('NOT_FOUND', `no job ${id}`);
      const job = await deps.queues.retry(id);
      await deps.audit.record(actor.name, 'job.retry', job.id);
      return job;
    },
  }),
];
