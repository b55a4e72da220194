import type { TokenIdentity } from './token-store';

/**
 * How long an API process trusts a token it has looked up. A revocation on another API process
 * (or straight in the database) is honoured within this; one made through this process at once.
 */
export const TOKEN_TRUST_MS = 1000;

/** Past this many entries, a lookup first drops the lapsed ones (only tokens that opened the API get in). */
const SWEEP_ABOVE = 1024;

/**
 * The identities of tokens that opened the API in the last TOKEN_TRUST_MS, by token hash: a
 * client sending requests back to back pays one token lookup a second, not one a request. Only
 * valid tokens are kept (an unknown, revoked or expired one is looked up every time), and never
 * past the token's own expiry.
 */
export class TokenCache {
  private readonly entries = new Map<string, { identity: TokenIdentity; until: number }>();

  constructor(private readonly trustMs = TOKEN_TRUST_MS) {}

  /** The identity of a token looked up less than trustMs ago, if it has not expired since. */
  get(hash: string): TokenIdentity | undefined {
    const entry = this.entries.get(hash);
    if (!entry) return undefined;
    if (performance.now() < entry.until) return entry.identity;
    this.entries.delete(hash);
    return undefined;
  }

  /** Keeps a token just found valid, for trustMs or until it expires (`expiresInMs`, by the database's clock), whichever is sooner. */
  set(hash: string, identity: TokenIdentity, expiresInMs: number | null): void {
    const now = performance.now();
    if (this.entries.size >= SWEEP_ABOVE) {
      for (const [key, entry] of this.entries) if (entry.until <= now) this.entries.delete(key);
    }
    const trusted = Math.min(this.trustMs, expiresInMs ?? Number.POSITIVE_INFINITY);
    if (trusted > 0) this.entries.set(hash, { identity, until: now + trusted });
  }

  /** Forgets the token with this id (revoked through this process: refused from its next request). */
  forget(id: number): void {
    for (const [key, entry] of this.entries) if (entry.identity.id === id) this.entries.delete(key);
  }
}
