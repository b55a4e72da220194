import { createHash, randomBytes } from 'node:crypto';
import { runTransaction } from '@nagaya/allocator';
import type { Role } from '@nagaya/contract';
import { NagayaError } from '../errors';
import type { Db } from './db';
import { TOKEN_TRUST_MS, TokenCache } from './token-cache';

export interface TokenIdentity {
  id: number;
  name: string;
  role: Role;
  /** The project the token acts in; null: an admin token that spans every project. */
  project: string | null;
}

/** A token as GET /tokens shows it: never its secret or hash. */
export interface TokenView extends TokenIdentity {
  createdAt: Date;
  /** null: never expires. */
  expiresAt: Date | null;
  /** Updated at most once a minute. */
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

interface TokenRow {
  id: string;
  name: string;
  role: Role;
  project: string | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const VIEW_COLUMNS = 'id, name, role, project, created_at, expires_at, last_used_at, revoked_at';

function viewOf(r: TokenRow): TokenView {
  return {
    id: Number(r.id),
    name: r.name,
    role: r.role,
    project: r.project,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

/** An admin token of every project that still opens the API: not revoked, not expired. */
const LIVE_ADMIN = `role = 'admin' AND project IS NULL AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`;
/** Serialises the steps that must never leave the installation without a live admin token. */
const ADMIN_LOCK = `SELECT pg_advisory_xact_lock(hashtext('nagaya:first-admin-token'))`;
/** lastUsedAt is a hint for spotting stale tokens, not an access log: one write a minute is enough. */
const LAST_USED_GRANULARITY_MS = 60_000;

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

/**
 * API tokens, stored hashed, each with a role. A request's token is looked up by a unique index,
 * and a valid one is then trusted for TOKEN_TRUST_MS (a second) by this process: a revocation
 * through this process is honoured on the very next request, one through another API process
 * within that second; an expired token is refused from its expiry on.
 */
export class TokenStore {
  private readonly trusted: TokenCache;

  constructor(
    private readonly db: Db,
    trustMs = TOKEN_TRUST_MS,
  ) {
    this.trusted = new TokenCache(trustMs);
  }

  /**
   * Creates a token of `project` (null: every project, admin role only) and returns it in clear,
   * the only time it is ever shown. NOT_FOUND when the project does not exist.
   */
  async create(name: string, role: Role, project: string | null, expiresInSeconds?: number): Promise<{ token: string; view: TokenView }> {
    if (project === null && role !== 'admin') {
      throw new NagayaError('INVALID_INPUT', `a ${role} token needs a project: only admin tokens span every project`, { field: 'project' });
    }
    const token = newToken();
    try {
      const { rows } = await this.db.query<TokenRow>(
        `INSERT INTO api_token (name, role, token_hash, expires_at, project)
         VALUES ($1, $2, $3, CASE WHEN $4::int IS NULL THEN NULL ELSE now() + make_interval(secs => $4::int) END, $5)
         RETURNING ${VIEW_COLUMNS}`,
        [name, role, hashToken(token), expiresInSeconds ?? null, project],
      );
      return { token, view: viewOf(rows[0]!) };
    } catch (err) {
      if ((err as { code?: string }).code === '23503') throw new NagayaError('NOT_FOUND', `no project named ${project}`, { project });
      throw err;
    }
  }

  /**
   * Stores a token given in clear (NAGAYA_ADMIN_TOKEN); idempotent, also when the API and worker
   * processes of a fresh install store the same token at the same moment (docker compose up).
   * A configured token that was revoked stays revoked: a new one must be configured.
   */
  async ensure(name: string, role: Role, token: string): Promise<TokenIdentity> {
    const hash = hashToken(token);
    const inserted = await this.db.query<{ id: string; name: string; role: Role; project: string | null }>(
      `INSERT INTO api_token (name, role, token_hash, project) VALUES ($1, $2, $3, $4)
       ON CONFLICT (token_hash) DO NOTHING RETURNING id, name, role, project`,
      [name, role, hash, role === 'admin' ? null : 'default'],
    );
    // lost the race, or stored before: a second statement sees the committed row
    const rows = inserted.rows[0]
      ? inserted.rows
      : (
          await this.db.query<{ id: string; name: string; role: Role; project: string | null }>(
            'SELECT id, name, role, project FROM api_token WHERE token_hash = $1',
            [hash],
          )
        ).rows;
    return { id: Number(rows[0]!.id), name: rows[0]!.name, role: rows[0]!.role, project: rows[0]!.project };
  }

  /**
   * Creates the first admin token when no live admin token exists (none, or all revoked or
   * expired), and returns it in clear; undefined when one exists. Serialised by an advisory lock,
   * so two API processes starting together make one token between them, not one each.
   */
  async createFirstAdmin(): Promise<string | undefined> {
    return runTransaction(this.db.pool, async (client) => {
      await client.query(ADMIN_LOCK);
      const { rowCount } = await client.query(`SELECT 1 FROM api_token WHERE ${LIVE_ADMIN} LIMIT 1`);
      if ((rowCount ?? 0) > 0) return undefined;
      const token = newToken();
      await client.query('INSERT INTO api_token (name, role, token_hash) VALUES ($1, $2, $3)', ['admin', 'admin', hashToken(token)]);
      return token;
    });
  }

  /**
   * Finds who a presented token belongs to: UNAUTHORIZED for an unknown or revoked token,
   * TOKEN_EXPIRED for one past its expiresAt.
   */
  async authenticate(token: string): Promise<TokenIdentity> {
    const hash = hashToken(token);
    const known = this.trusted.get(hash);
    if (known) return known;
    const { rows } = await this.db.query<{
      id: string;
      name: string;
      role: Role;
      project: string | null;
      expired: boolean;
      expires_in_ms: number | null;
      last_used_at: Date | null;
    }>(
      `SELECT id, name, role, project, expires_at <= now() AS expired,
              (extract(epoch FROM expires_at - now()) * 1000)::float8 AS expires_in_ms, last_used_at
         FROM api_token WHERE token_hash = $1 AND revoked_at IS NULL`,
      [hash],
      { prepared: true },
    );
    const row = rows[0];
    if (!row) throw new NagayaError('UNAUTHORIZED', 'the bearer token is not valid');
    if (row.expired) throw new NagayaError('TOKEN_EXPIRED', `the bearer token ${row.name} has expired: ask an admin for a new one`);
    if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > LAST_USED_GRANULARITY_MS) {
      // not awaited: the request does not wait for a bookkeeping write, nor fail with it
      void this.db.query('UPDATE api_token SET last_used_at = now() WHERE id = $1', [row.id]).catch(() => undefined);
    }
    const identity = { id: Number(row.id), name: row.name, role: row.role, project: row.project };
    this.trusted.set(hash, identity, row.expires_in_ms);
    return identity;
  }

  /** Every token (of one project when given), revoked and expired ones included (to show when they ended). */
  async list(project?: string): Promise<TokenView[]> {
    const { rows } = await this.db.query<TokenRow>(
      `SELECT ${VIEW_COLUMNS} FROM api_token WHERE ($1::text IS NULL OR project = $1) ORDER BY id`,
      [project ?? null],
    );
    return rows.map(viewOf);
  }

  /**
   * Revokes a token: refused from the next request on. NOT_FOUND when there is no such token or
   * it is revoked already. CONFLICT when it is the last live admin token, which would leave no
   * one able to make tokens: create another admin token first. A caller may revoke its own token.
   */
  async revoke(id: number, project?: string): Promise<TokenView> {
    return runTransaction(this.db.pool, async (client) => {
      await client.query(ADMIN_LOCK);
      const { rows } = await client.query<TokenRow & { live_admin: boolean }>(
        `SELECT ${VIEW_COLUMNS}, (${LIVE_ADMIN}) AS live_admin FROM api_token
          WHERE id = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR project = $2) FOR UPDATE`,
        [id, project ?? null],
      );
      const row = rows[0];
      if (!row) throw new NagayaError('NOT_FOUND', `no token ${id} (or it is revoked already)`);
      if (row.live_admin) {
        const others = await client.query(`SELECT 1 FROM api_token WHERE ${LIVE_ADMIN} AND id <> $1 LIMIT 1`, [id]);
        if (!others.rowCount)
          throw new NagayaError(
            'CONFLICT',
            `token ${id} (${row.name}) is the last admin token: create another admin token before revoking it`,
          );
      }
      const revoked = await client.query<TokenRow>(`UPDATE api_token SET revoked_at = now() WHERE id = $1 RETURNING ${VIEW_COLUMNS}`, [id]);
      return viewOf(revoked.rows[0]!);
    }).finally(() => this.trusted.forget(id));
  }
}
