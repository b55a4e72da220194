import { createHash, randomBytes } from 'node:crypto';
import { NagayaError, runTransaction } from '@nagaya/allocator';
import type { Db } from './db';

export type Role = 'admin' | 'operator' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

export interface TokenIdentity {
  id: number;
  name: string;
  role: Role;
}

/**
 * Tokens are 32 random bytes; only their SHA-256 is stored. A fast hash is enough for secrets
 * with 256 bits of entropy (no dictionary to attack), and it keeps each request's check cheap.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Makes a new random token (prefixed so it is recognisable in a leak scan). */
export function newToken(): string {
  return `ngy_${randomBytes(32).toString('base64url')}`;
}

/** API tokens, stored hashed, each with a role. */
export class TokenStore {
  private readonly cache = new Map<string, { identity: TokenIdentity | null; at: number }>();

  constructor(private readonly db: Db) {}

  /** Creates a token and returns it in clear, the only time it is ever shown. */
  async create(name: string, role: Role): Promise<{ token: string; identity: TokenIdentity }> {
    const token = newToken();
    const identity = await this.store(name, role, token);
    return { token, identity };
  }

  /**
   * Stores a token given in clear (NAGAYA_ADMIN_TOKEN); idempotent, also when the API and worker
   * processes of a fresh install store the same token at the same moment (docker compose up).
   */
  async ensure(name: string, role: Role, token: string): Promise<TokenIdentity> {
    const hash = hashToken(token);
    const inserted = await this.db.query<{ id: string; name: string; role: Role }>(
      `INSERT INTO api_token (name, role, token_hash) VALUES ($1, $2, $3)
       ON CONFLICT (token_hash) DO NOTHING RETURNING id, name, role`, [name, role, hash]);
    // lost the race, or stored before: a second statement sees the committed row
    const rows = inserted.rows[0] ? inserted.rows
      : (await this.db.query<{ id: string; name: string; role: Role }>('SELECT id, name, role FROM api_token WHERE token_hash = $1', [hash])).rows;
    return { id: Number(rows[0]!.id), name: rows[0]!.name, role: rows[0]!.role };
  }

  /**
   * Creates the first admin token when there is no admin at all, and returns it in clear; undefined
   * when an admin exists. Serialised by an advisory lock, so two API processes starting together
   * make one token between them, not one each.
   */
  async createFirstAdmin(): Promise<string | undefined> {
    return runTransaction(this.db.pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('nagaya:first-admin-token'))`);
      const { rowCount } = await client.query(`SELECT 1 FROM api_token WHERE role = 'admin' AND revoked_at IS NULL LIMIT 1`);
      if ((rowCount ?? 0) > 0) return undefined;
      const token = newToken();
      await client.query('INSERT INTO api_token (name, role, token_hash) VALUES ($1, $2, $3)', ['admin', 'admin', hashToken(token)]);
      return token;
    });
  }

  private async store(name: string, role: Role, token: string): Promise<TokenIdentity> {
    const { rows } = await this.db.query<{ id: string }>(
      'INSERT INTO api_token (name, role, token_hash) VALUES ($1, $2, $3) RETURNING id', [name, role, hashToken(token)]);
    return { id: Number(rows[0]!.id), name, role };
  }

  /** Finds who a presented token belongs to; UNAUTHORIZED for an unknown or revoked token. Cached briefly. */
  async authenticate(token: string): Promise<TokenIdentity> {
    const hash = hashToken(token);
    const cached = this.cache.get(hash);
    let identity: TokenIdentity | null;
    if (cached && Date.now() - cached.at < 5000) {
      identity = cached.identity;
    } else {
      const { rows } = await this.db.query<{ id: string; name: string; role: Role }>(
        'SELECT id, name, role FROM api_token WHERE token_hash = $1 AND revoked_at IS NULL', [hash]);
      identity = rows[0] ? { id: Number(rows[0].id), name: rows[0].name, role: rows[0].role } : null;
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, { identity, at: Date.now() });
    }
    if (!identity) throw new NagayaError('UNAUTHORIZED', 'the bearer token is not valid');
    return identity;
  }

  async list(): Promise<Array<TokenIdentity & { createdAt: Date; revokedAt: Date | null }>> {
    const { rows } = await this.db.query<{ id: string; name: string; role: Role; created_at: Date; revoked_at: Date | null }>(
      'SELECT id, name, role, created_at, revoked_at FROM api_token ORDER BY id');
    return rows.map((r) => ({ id: Number(r.id), name: r.name, role: r.role, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }
}
