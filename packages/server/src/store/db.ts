import { createHash } from 'node:crypto';
import pg from 'pg';
import { runStatement, sqlStateOf } from '@nagaya/allocator';
import { NagayaError } from '../errors';

/** Postgres connection pool with the one query helper the stores use. */
export class Db {
  readonly pool: pg.Pool;

  constructor(databaseUrl: string, max = 10) {
    // Idle connections are kept a minute, not pg's 10 s: a connection costs a SCRAM exchange
    // (PBKDF2 on both ends) and a new backend, which bursty launches paid again after each lull.
    this.pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 5000, idleTimeoutMillis: 60_000 });
    // an idle client losing its server (Postgres restarted) must not crash the process
    this.pool.on('error', () => undefined);
    // Nor may a checked-out one: between two statements of a transaction the pool's idle
    // listener is off, and pg emits the socket's 'error' on the client itself, which, with no
    // listener, kills the process when Postgres goes away. The failing statement still rejects,
    // and the client is discarded.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  /**
   * Runs one statement (keeping the connection after an SQL error; see runStatement). `prepared`:
   * as a named prepared statement, parsed and planned once per connection; for the statements of
   * the launch path, whose parse and plan cost Postgres more than running them.
   */
  async query<R extends object = Record<string, unknown>>(
    text: string,
    values?: unknown[],
    options: { prepared?: boolean } = {},
  ): Promise<pg.QueryResult<R>> {
    try {
      return await runStatement<R>(this.pool, text, values, options.prepared ? statementName(text) : undefined);
    } catch (err) {
      // SQL errors are for the stores to read (a unique violation is a CONFLICT); anything else
      // (no connection, a dropped socket) means Postgres is away.
      throw sqlStateOf(err) === undefined ? unavailable(err) : err;
    }
  }

  /** Runs `body` in one transaction on one connection (rolled back if it throws). */
  async transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Tells whether Postgres answers. */
  async ping(): Promise<boolean> {
    try {
      await this.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

const statementNames = new Map<string, string>();

/** A prepared statement's name: its text's hash, so one name never stands for two texts. */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `ng_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
}

function unavailable(err: unknown): NagayaError {
  return new NagayaError('UNAVAILABLE', `database unavailable: ${(err as Error)?.message ?? err}`, { dependency: 'postgres' });
}

/** Tells whether a pg error is a unique violation (optionally of one constraint). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}
