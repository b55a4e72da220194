import pg, { type Pool, type PoolClient, type QueryResult } from 'pg';
import { AllocatorError } from './errors';
import { isRetryable, sqlStateOf, toAllocatorError } from './pg-errors';

/**
 * Statements and transactions on a pg.Pool that keep a connection after an SQL error. Not
 * `pool.query`: that throws the connection away on any error, and our SQL raises errors on
 * purpose (a unique violation, a full pool), so every such answer would cost a reconnect
 * (~20 ms measured here). Only an error without a SQLSTATE (a broken socket) retires one.
 * Errors are rethrown as they came, for the caller to map.
 */

/** Tells whether an error means the connection itself is unusable (no SQLSTATE: the socket failed). */
function brokeTheConnection(err: unknown): boolean {
  return !(err instanceof AllocatorError) && sqlStateOf(err) === undefined;
}

/** Checks a connection out of the pool; a pool that cannot connect is UNAVAILABLE. */
export async function checkout(pool: Pool): Promise<PoolClient> {
  try {
    return await pool.connect();
  } catch (err) {
    throw toAllocatorError(err);
  }
}

/**
 * Runs one statement on a pooled connection. With `name`, as a named prepared statement: each
 * connection parses and plans it once, and later runs only bind and execute it (the name must
 * stand for this text alone).
 */
export async function runStatement<R extends object>(pool: Pool, text: string, values?: unknown[], name?: string): Promise<QueryResult<R>> {
  const client = await checkout(pool);
  let broken: Error | undefined;
  try {
    return await (name ? queryNamed<R>(client, name, text, values) : client.query<R>(text, values));
  } catch (err) {
    if (brokeTheConnection(err)) broken = err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * client.query({ name, text, values }) without pg's copy of the config object: pg copies a config
 * object on every query through its property descriptors (cloneQueryConfig), about 1% of a
 * server's CPU on the launch and run paths; a Query made from the text is not copied.
 */
function queryNamed<R extends object>(client: PoolClient, name: string, text: string, values?: unknown[]): Promise<QueryResult<R>> {
  return new Promise((resolve, reject) => {
    const query = new pg.Query(text, values, (err, result) => (err ? reject(err) : resolve(result as unknown as QueryResult<R>)));
    (query as pg.Query & { name: string }).name = name;
    client.query(query);
  });
}

/** Runs `fn` inside one transaction on one pooled connection (rolled back if fn throws). */
export async function runTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await checkout(pool);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => {
      broken = rollbackErr;
    });
    if (brokeTheConnection(err)) broken = err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * Runs one statement whose SQL errors become NagayaErrors, except those a retry may cure (a lost
 * race, a serialization failure): they are rethrown as they came, for the caller's retry loop.
 */
export async function runMappedStatement<R extends object>(pool: Pool, text: string, values?: unknown[]): Promise<QueryResult<R>> {
  try {
    return await runStatement<R>(pool, text, values);
  } catch (err) {
    if (isRetryable(err)) throw err;
    throw toAllocatorError(err);
  }
}
