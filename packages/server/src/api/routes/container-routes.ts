import { createHash } from 'node:crypto';
import { BEARER_SUBPROTOCOL_PREFIX, EXEC_SUBPROTOCOL, type ContainerEnvView } from '@nagaya/contract';
import {
  containerListQuery,
  createContainerSchema,
  dnsLabel,
  emptySchema,
  execSchema,
  execSocketQuery,
  idempotencyKeyHeader,
  deleteContainerQuery,
  logsQuery,
  sinceToNanoseconds,
  stopSchema,
} from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import { hasRole } from '../auth';
import { requireHostPathAdmin } from './host-path-guard';
import { operation, type Operation } from '../operation';
import { serveExecSocket, sessionFromQuery } from './exec-socket';
import { answerFollowedLogs } from './log-follow-response';

const byName = { name: dnsLabel };

/** start, stop and restart: one operation each, answered at once with the job that does it. */
const actions = (['start', 'stop', 'restart'] as const).map((action) =>
  operation({
    method: 'post',
    path: `/containers/{name}/${action}`,
    role: 'operator',
    success: 202,
    summary: {
      start: 'Start a stopped container',
      stop: 'Stop: SIGTERM, then SIGKILL after timeoutSeconds',
      restart: 'Stop then start',
    }[action],
    scope: 'project',
    body: action === 'start' ? emptySchema : stopSchema,
    bodyMayBeAbsent: true,
    params: byName,
    handle: ({ deps, actor, scope, body, params }) =>
      deps.containerService.act(scope.project, params.name, action, actor, (body as { timeoutSeconds?: number }).timeoutSeconds),
  }),
);

/** /containers: create, list, get, start, stop, restart, delete, exec, logs. */
export const containerOperations: Operation[] = [
  operation({
    method: 'post',
    path: '/containers',
    role: 'operator',
    success: 202,
    summary:
      "Create and launch a container in the request's project, within its quotas (Idempotency-Key honoured; " +
      'security.nesting and hostPath mounts need an admin token of every project)',
    scope: 'project',
    headers: { 'Idempotency-Key': idempotencyKeyHeader },
    body: createContainerSchema,
    handle: async ({ req, res, deps, actor, scope, body: input }) => {
      // Nested user namespaces widen what the container can reach in the host's kernel: a
      // decision for whoever runs the hosts, not for one tenant's admin.
      if (input.security?.nesting === true && !(hasRole(actor, 'admin') && actor.project === null)) {
        const why = `security.nesting needs an admin token of every project; the token ${actor.name} is ${actor.role}${actor.project ? ` of project ${actor.project}` : ''}`;
        throw new NagayaError('FORBIDDEN', why, { field: 'security.nesting' });
      }
      requireHostPathAdmin(actor, input.mounts);
      const key = req.get('idempotency-key');
      if (key === undefined) return deps.containerService.create(scope.project, input, actor);
      const fingerprint = createHash('sha256')
        .update(JSON.stringify([scope.project, req.body]))
        .digest('hex');
      const claim = await deps.idempotency.claim(actor.id, key, fingerprint);
      if (claim.kind === 'replay') {
        res.status(claim.status).set('Idempotent-Replayed', 'true').json(claim.body);
        return undefined;
      }
      try {
        const body = await deps.containerService.create(scope.project, input, actor);
        await deps.idempotency.complete(actor.id, key, 202, body);
        return body;
      } catch (err) {
        await deps.idempotency.abandon(actor.id, key);
        throw err;
      }
    },
  }),
  operation({
    method: 'get',
    path: '/containers',
    summary: "List the project's containers (all-projects=true: every project's)",
    role: 'viewer',
    scope: 'project',
    success: 200,
    query: containerListQuery,
    handle: async ({ deps, scope, query }) => ({
      containers: await deps.containerService.list({ ...query, project: scope.all ? undefined : scope.project }),
    }),
  }),
  operation({
    method: 'get',
    path: '/containers/{name}',
    summary: 'One container, with its map lines',
    role: 'viewer',
    scope: 'project',
    success: 200,
    params: byName,
    handle: ({ deps, scope, params }) => deps.containerService.get(scope.project, params.name),
  }),
  ...actions,
  operation({
    method: 'delete',
    path: '/containers/{name}',
    summary: 'Delete: remove storage, release the slice (a running container only with force: SIGKILL at once)',
    role: 'operator',
    scope: 'project',
    success: 202,
    params: byName,
    query: deleteContainerQuery,
    handle: ({ deps, actor, scope, params, query }) =>
      deps.containerService.act(scope.project, params.name, 'delete', actor, query.force ? 0 : undefined, { force: query.force }),
  }),
  operation({
    method: 'post',
    path: '/containers/{name}/exec',
    summary: 'Run a command inside a running container',
    role: 'operator',
    scope: 'project',
    success: 200,
    body: execSchema,
    params: byName,
    handle: ({ deps, actor, scope, body, params }) =>
      deps.containerExec.exec(scope.project, params.name, body.command, body.env, body.timeoutMs, actor, body.encoding, {
        cwd: body.cwd,
        user: body.user,
      }),
  }),
  operation({
    method: 'get',
    path: '/containers/{name}/exec',
    summary:
      'An interactive exec over WebSocket (Upgrade: websocket): stdin, stdout and stderr (or a tty), resize and the exit code; ' +
      'the session in the query (command and env repeated, tty, rows, cols, cwd, user=UID[:GID]) or as the first message. ' +
      `A browser, which cannot set Authorization here, offers the subprotocols ${EXEC_SUBPROTOCOL} (echoed) and ` +
      `${BEARER_SUBPROTOCOL_PREFIX}<the token in base64url, unpadded> (never echoed) instead`,
    role: 'operator',
    scope: 'project',
    success: 101,
    query: execSocketQuery,
    params: byName,
    handle: ({ req, res, deps, actor, scope, query, params }) =>
      serveExecSocket(req, res, deps, actor, scope.project, params.name, sessionFromQuery(query)),
  }),
  operation({
    method: 'get',
    path: '/containers/{name}/env',
    summary:
      "The environment the container runs with (its image's, the create's on top). Operators only, as exec is: values are often secrets, " +
      'and a viewer reads no other way to them',
    role: 'operator',
    scope: 'project',
    success: 200,
    params: byName,
    handle: async ({ deps, scope, params }) =>
      ({ env: (await deps.containers.getByName(scope.project, params.name)).env ?? {} }) satisfies ContainerEnvView,
  }),
  operation({
    method: 'get',
    path: '/containers/{name}/logs',
    summary: 'The console log, as whole lines (tail, since, timestamps); with follow=1 a stream until the container exits',
    role: 'viewer',
    scope: 'project',
    success: 200,
    query: logsQuery,
    params: byName,
    handle: async ({ req, res, deps, scope, query, params }) => {
      const since = query.since === undefined ? null : sinceToNanoseconds(query.since);
      const request = {
        ...(query.tail !== undefined ? { tailLines: query.tail } : {}),
        ...(since !== null ? { sinceNs: since } : {}),
        timestamps: query.timestamps,
      };
      if (!query.follow) return deps.containerLogs.logs(scope.project, params.name, request);
      await answerFollowedLogs(req, res, deps.containerLogs, scope.project, params.name, request);
      return undefined;
    },
  }),
];
