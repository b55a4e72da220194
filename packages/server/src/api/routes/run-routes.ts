import {
  createRunSchema,
  preferredWaitSeconds,
  runIdParams,
  runListQuery,
  runOutputQuery,
  runPreferHeader,
  runScheduleParams,
  runWaitQuery,
} from '@nagaya/contract/schemas';
import { requireHostPathAdmin } from './host-path-guard';
import { operation, type Operation } from '../operation';

/** How long GET /runs/{id}/wait waits when the request says nothing. */
const DEFAULT_WAIT_SECONDS = 30;

/** /runs: submit run-to-completion work, read its result and output, wait for it, cancel it; and schedules. */
export const runOperations: Operation[] = [
  // before /runs/{id}: "schedules" is no run id
  operation({
    method: 'get',
    path: '/runs/schedules',
    summary: "The project's run schedules (all-projects=true: every project's)",
    role: 'viewer',
    scope: 'project',
    success: 200,
    handle: async ({ deps, scope }) => ({ schedules: await deps.runService.schedules(scope.all ? undefined : scope.project) }),
  }),
  operation({
    method: 'delete',
    path: '/runs/schedules/{id}',
    summary: 'Remove a run schedule (runs it submitted stay)',
    role: 'operator',
    scope: 'project',
    success: 200,
    params: runScheduleParams,
    handle: async ({ deps, actor, scope, params }) => {
      await deps.runService.unschedule(scope.project, params.id, actor);
      return { removed: true };
    },
  }),
  operation({
    method: 'post',
    path: '/runs',
    role: 'operator',
    success: 202,
    summary:
      'Submit a run: a fresh container with a fresh slice runs the command to its exit or timeout, keeps its result and goes ' +
      '(with schedule: a schedule that submits it on each tick, answered as {schedule}); a run that mounts a volume runs on its node, ' +
      'and hostPath mounts need an admin token of every project. With Prefer: wait=N (RFC 7240, N up to 300) the answer waits ' +
      'up to N seconds for the run to end: 200 with the ended run, else 202 with it as it is then',
    scope: 'project',
    headers: { Prefer: runPreferHeader },
    body: createRunSchema,
    handle: async ({ req, res, deps, actor, scope, body }) => {
      requireHostPathAdmin(actor, body.mounts);
      const submitted = await deps.runService.submit(scope.project, body, actor);
      const wait = 'run' in submitted ? preferredWaitSeconds(req.get('prefer')) : undefined;
      if (wait === undefined || !('run' in submitted)) return submitted;
      const run = await deps.runService.wait(scope.project, submitted.run.id, wait);
      res.set('Preference-Applied', `wait=${wait}`);
      res.status(run.finishedAt !== null ? 200 : 202).json({ run });
      return undefined;
    },
  }),
  operation({
    method: 'get',
    path: '/runs',
    summary: "The project's runs, newest first (all-projects=true: every project's)",
    role: 'viewer',
    scope: 'project',
    success: 200,
    query: runListQuery,
    handle: async ({ deps, scope, query }) => ({
      runs: await deps.runService.list({ ...query, project: scope.all ? undefined : scope.project }),
    }),
  }),
  operation({
    method: 'get',
    path: '/runs/{id}',
    summary: 'One run: its state, exit and the slice it held',
    role: 'viewer',
    scope: 'project',
    success: 200,
    params: runIdParams,
    handle: ({ deps, scope, params }) => deps.runService.get(scope.project, params.id),
  }),
  operation({
    method: 'get',
    path: '/runs/{id}/output',
    summary: "A run's stdout and stderr (each capped at its outputLimitBytes), as text or base64",
    role: 'viewer',
    scope: 'project',
    success: 200,
    params: runIdParams,
    query: runOutputQuery,
    handle: ({ deps, scope, params, query }) => deps.runService.output(scope.project, params.id, query.encoding),
  }),
  operation({
    method: 'get',
    path: '/runs/{id}/wait',
    summary: `Long poll: answers once the run has ended, or after timeoutSeconds (default ${DEFAULT_WAIT_SECONDS}) with it as it is`,
    role: 'viewer',
    scope: 'project',
    success: 200,
    params: runIdParams,
    query: runWaitQuery,
    handle: ({ deps, scope, params, query }) =>
      deps.runService.wait(scope.project, params.id, query.timeoutSeconds ?? DEFAULT_WAIT_SECONDS),
  }),
  operation({
    method: 'delete',
    path: '/runs/{id}',
    summary: 'Cancel a run: a queued one leaves the queue, a running one is killed and cleaned up (state cancelled)',
    role: 'operator',
    scope: 'project',
    success: 200,
    params: runIdParams,
    handle: ({ deps, actor, scope, params }) => deps.runService.cancel(scope.project, params.id, actor),
  }),
];
