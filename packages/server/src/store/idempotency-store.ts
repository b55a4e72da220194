import { NagayaError } from '../errors';
import type { Db } from './db';

export type IdempotencyClaim = { kind: 'new' } | { kind: 'replay'; status: number; body: unknown };

/** After this long an unanswered claim is taken to be a request that died (its process or its database connection). */
const STALE_CLAIM_SECONDS = 10;

/** First answers to requests sent with an Idempotency-Key, per token, for replay. */
export class IdempotencyStore {
  constructor(private readonly db: Db) {}

  /**
   * Claims a key for a request. A repeat with the same request replays the stored answer; a
   * repeat still in flight, or with another request body, is a CONFLICT.
   */
  async claim(tokenId: number, key: string, fingerprint: string): Promise<IdempotencyClaim> {
    const inserted = await this.db.query(
      `INSERT INTO idempotency_key (token_id, key, fingerprint) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [tokenId, key, fingerprint],
    );
    if (inserted.rowCount) return { kind: 'new' };
    const { rows } = await this.db.query<{ fingerprint: string; status: number | null; body: unknown }>(
      'SELECT fingerprint, status, body FROM idempotency_key WHERE token_id = $1 AND key = $2',
      [tokenId, key],
    );
    const row = rows[0];
    if (!row) return this.claim(tokenId, key, fingerprint);
    if (row.fingerprint !== fingerprint) {
      throw new NagayaError('CONFLICT', 'this Idempotency-Key was used for a different request');
    }
    if (row.status === null) {
      // A request that lost Postgres half-way could not abandon its claim, which would then
      // refuse every retry forever. A claim older than any
      // create takes is taken over; the container name's uniqueness still stops a second create.
      const stale = await this.db.query(
        `DELETE FROM idempotency_key WHERE token_id = $1 AND key = $2 AND status IS NULL AND created_at < now() - make_interval(secs => $3)`,
        [tokenId, key, STALE_CLAIM_SECONDS],
      );
      if (stale.rowCount) return this.claim(tokenId, key, fingerprint);
      throw new NagayaError('CONFLICT', 'a request with this Idempotency-Key is still in progress');
    }
    return { kind: 'replay', status: row.status, body: row.body };
  }

  /** Stores the answer of a claimed key. */
  async complete(tokenId: number, key: string, status: number, body: unknown): Promise<void> {
    await this.db.query('UPDATE idempotency_key SET status = $3, body = $4 WHERE token_id = $1 AND key = $2', [
      tokenId,
      key,
      status,
      JSON.stringify(body),
    ]);
  }

  /** Forgets a claim whose request failed, so the client may try again with the same key. */
  async abandon(tokenId: number, key: string): Promise<void> {
    await this.db
      .query('DELETE FROM idempotency_key WHERE token_id = $1 AND key = $2 AND status IS NULL', [tokenId, key])
      .catch(() => undefined);
  }
}
