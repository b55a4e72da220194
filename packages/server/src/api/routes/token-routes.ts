import type { CreatedTokenView, Role, TokenView, WhoamiView } from '@nagaya/contract';
import { createTokenSchema, tokenIdParam } from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import type { TokenIdentity } from '../../store/token-store';
import { operation, type Operation, type ProjectScope, type Sendable } from '../operation';

/**
 * The project of a new token. An admin of one project makes tokens of that project only (naming
 * another is NOT_FOUND, as for any other project's things). An admin of every project names one,
 * or null for another admin of every project; by default the request's ?project=, or, without
 * one, none for an admin token and `default` for the others.
 */
function tokenProject(actor: TokenIdentity, scope: ProjectScope, body: { role: Role; project?: string | null | undefined }): string | null {
  if (actor.project !== null) {
    if (body.project === null) throw new NagayaError('FORBIDDEN', 'only an admin token of every project makes tokens of every project');
    if (body.project !== undefined && body.project !== actor.project)
      throw new NagayaError('NOT_FOUND', `no project named ${body.project}`);
    return actor.project;
  }
  if (body.project !== undefined) return body.project;
  if (scope.named) return scope.project;
  return body.role === 'admin' ? null : scope.project;
}

/** /whoami and /tokens: the caller, and the tokens an admin hands out and revokes. */
export const tokenOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/whoami',
    summary: 'The caller: token name, role and project (null: every project)',
    role: 'viewer',
    scope: 'fleet',
    success: 200,
    handle: ({ actor: { name, role, project } }): WhoamiView => ({ name, role, project }),
  }),
  operation({
    method: 'get',
    path: '/tokens',
    role: 'admin',
    scope: 'project',
    success: 200,
    summary:
      'API tokens of the project (a token of every project: every token unless ?project= names one): id, name, role, project, ' +
      'createdAt, expiresAt, lastUsedAt, revokedAt (never their secrets)',
    handle: async ({ deps, actor, scope }) => ({
      tokens: (await deps.tokens.list(actor.project === null && !scope.named ? undefined : scope.project)) satisfies Array<
        Sendable<TokenView>
      >,
    }),
  }),
  operation({
    method: 'post',
    path: '/tokens',
    role: 'admin',
    scope: 'project',
    success: 201,
    body: createTokenSchema,
    summary: 'Create an API token of a project (an admin of one project: of its own), optionally expiring; the secret is shown once',
    handle: async ({ deps, actor, scope, body }) => {
      const project = tokenProject(actor, scope, body);
      const { token, view } = await deps.tokens.create(body.name, body.role, project, body.expiresInSeconds);
      await deps.audit.record(actor, project, 'token.create', body.name, { id: view.id, role: body.role, expiresAt: view.expiresAt });
      return { token, ...view } satisfies Sendable<CreatedTokenView>;
    },
  }),
  operation({
    method: 'delete',
    path: '/tokens/{id}',
    role: 'admin',
    scope: 'project',
    success: 200,
    params: { id: tokenIdParam },
    summary:
      'Revoke a token (an admin of one project: of its own): refused from the next request on, by other API processes within 1 s (not the last admin token: 409)',
    handle: async ({ deps, actor, scope, params }) => {
      const revoked = await deps.tokens.revoke(params.id, actor.project === null && !scope.named ? undefined : scope.project);
      await deps.audit.record(actor, revoked.project, 'token.revoke', revoked.name, { id: revoked.id, role: revoked.role });
      return revoked satisfies Sendable<TokenView>;
    },
  }),
];
