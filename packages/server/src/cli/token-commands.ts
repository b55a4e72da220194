// `nagaya tokens [list]`, `tokens create`, `tokens revoke`: the API tokens an admin hands out.
import { ApiError } from '@nagaya/contract';
import type { ApiClient } from './api-client';
import { age, table, type Out } from './format';
import { wholeNumberOption } from './options';

/** The options of the tokens command, as parseArgs gives them. */
export interface TokenOptions {
  role?: string | undefined;
  global?: boolean | undefined;
  expires?: string | undefined;
}

/** `project`: --project or NAGAYA_PROJECT, the project a new token is made for. */
export async function tokensCommand(
  client: ApiClient,
  args: string[],
  options: TokenOptions,
  project: string | undefined,
  out: Out,
): Promise<void> {
  if (args[0] === 'create') {
    if (!args[1] || !options.role)
      throw new ApiError(
        0,
        'INVALID_INPUT',
        'tokens create <name> --role admin|operator|viewer [--expires SECONDS] [--project P | --global]',
      );
    const res = await client.post<{
      token: string;
      id: number;
      name: string;
      role: string;
      project: string | null;
      expiresAt: string | null;
    }>('/tokens', {
      name: args[1],
      role: options.role,
      // --project P (or NAGAYA_PROJECT): a token of P; --global: of every project; neither: the server's default
      ...(options.global ? { project: null } : project === undefined ? {} : { project }),
      ...(options.expires === undefined ? {} : { expiresInSeconds: wholeNumberOption('expires', options.expires) }),
    });
    const scope = res.project === null ? 'every project' : `project ${res.project}`;
    out(
      res,
      () =>
        `${res.name} (${res.role} of ${scope}, id ${res.id}${res.expiresAt ? `, expires ${res.expiresAt}` : ''}): ${res.token}\nshown once: store it now`,
    );
    return;
  }
  if (args[0] === 'revoke') {
    if (!args[1]) throw new ApiError(0, 'INVALID_INPUT', 'tokens revoke <id> (the ids: nagaya tokens list)');
    const res = await client.delete<{ id: number; name: string; revokedAt: string }>(`/tokens/${encodeURIComponent(args[1])}`);
    out(res, () => `token ${res.id} (${res.name}) revoked`);
    return;
  }
  if (args[0] !== undefined && args[0] !== 'list')
    throw new ApiError(0, 'INVALID_INPUT', `tokens ${args[0]}: use tokens list, tokens create or tokens revoke`);
  const { tokens } = await client.get<{
    tokens: Array<Record<string, unknown> & { expiresAt: string | null; revokedAt: string | null }>;
  }>('/tokens');
  const now = Date.now();
  out(tokens, () =>
    table(
      tokens.map((t) => ({
        ...t,
        project: t.project ?? '(every)',
        lastUsed: age(t.lastUsedAt as string | null),
        state: t.revokedAt ? 'revoked' : t.expiresAt && Date.parse(t.expiresAt) <= now ? 'expired' : 'active',
      })),
      ['id', 'name', 'role', 'project', 'state', 'createdAt', 'expiresAt', 'lastUsed'],
    ),
  );
  return;
}

/** `nagaya whoami`: the name, role and project of the token in NAGAYA_TOKEN. */
export async function whoamiCommand(client: ApiClient, out: Out): Promise<void> {
  const me = await client.get<{ name: string; role: string; project: string | null }>('/whoami');
  out(me, () => `${me.name}: ${me.role}, ${me.project === null ? 'of every project' : `of project ${me.project}`}`);
}
