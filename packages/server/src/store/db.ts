import pg from 'pg';
import { NagayaError } from '@nagaya/allocator';

/** Postgres connection pool with the one query helper the stores use. */
export class Db {
  readonly pool: pg.Pool;

  constructor(databaseUrl: string, max = 10) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 5000 });
    // an idle client losing its server (Postgres restarted) must not crash the process
    this.pool.on('error', () => undefined);
    // Nor may a checked-out one: between two statements of a transaction the pool's idle
    // listener is off, and pg emits the socket's 'error' on the client itself, which, with no
    // listener, kills the process (found by e2e/test/fault-dependencies: the API died when
    // Postgres was killed). The failing statement still rejects, and the client is discarded.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
  }

  /**
   * Runs one statement. Not `pool.query`: that throws away the connection on any SQL error
   * (a unique violation costs a reconnect); only a broken socket retires the connection here.
   */
  async query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    let broken: Error | undefined;
    try {
      return await client.query<R>(text, values);
    } catch (err) {
      if (!(err as { code?: string }).code || !/^[0-9A-Z]{5}$/.test((err as { code: string }).code)) {
        broken = err as Error;
        throw unavailable(err);
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** Runs `fn` inside one transaction. */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      client.release(broken);
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

function unavailable(err: unknown): NagayaError {
  return new NagayaError('UNAVAILABLE', `database unavailable: ${(err as Error)?.message ?? err}`, { dependency: 'postgres' });
}

/** Tells whether a pg error is a unique violation (optionally of one constraint). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}
