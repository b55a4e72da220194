import type { CreatedTokenView, TokenView, WhoamiView } from '@nagaya/contract';
import { createTokenSchema, tokenIdParam } from '@nagaya/contract/schemas';
import { operation, type Operation, type Sendable } from '../operation';

/** /whoami and /tokens: the caller, and the tokens an admin hands out and revokes. */
export const tokenOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/whoami',
    summary: 'The caller: token name and role',
    role: 'viewer',
    success: 200,
    handle: ({ actor: { name, role } }): WhoamiView => ({ name, role }),
  }),
  operation({
    method: 'get',
    path: '/tokens',
    role: 'admin',
    success: 200,
    summary: 'API tokens: id, name, role, createdAt, expiresAt, lastUsedAt, revokedAt (never their secrets)',
    handle: async ({ deps }) => ({ tokens: (await deps.tokens.list()) satisfies Array<Sendable<TokenView>> }),
  }),
  operation({
    method: 'post',
    path: '/tokens',
    role: 'admin',
    success: 201,
    body: createTokenSchema,
    summary: 'Create an API token, optionally expiring; the secret is shown once',
    handle: async ({ deps, actor, body }) => {
      const { token, view } = await deps.tokens.create(body.name, body.role, body.expiresInSeconds);
      await deps.audit.record(actor.name, 'token.create', body.name, { id: view.id, role: body.role, expiresAt: view.expiresAt });
      return { token, ...view } satisfies Sendable<CreatedTokenView>;
    },
  }),
  operation({
    method: 'delete',
    path: '/tokens/{id}',
    role: 'admin',
    success: 200,
    params: { id: tokenIdParam },
    summary: 'Revoke a token: refused from the next request on (not the last admin token: 409)',
    handle: async ({ deps, actor, params }) => {
      const revoked = await deps.tokens.revoke(params.id);
      await deps.audit.record(actor.name, 'token.revoke', revoked.name, { id: revoked.id, role: revoked.role });
      return revoked satisfies Sendable<TokenView>;
    },
  }),
];
