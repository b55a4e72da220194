// What /tokens and /whoami return, and the roles a token may have.

export const ROLES = ['admin', 'operator', 'viewer'] as const;
/** What a token may do: a viewer reads, an operator also acts on containers and images, an admin also on pools and tokens. */
export type Role = (typeof ROLES)[number];

/** GET /whoami. */
export interface WhoamiView {
  name: string;
  role: Role;
  /** The token's project; null: an admin token that spans every project. */
  project: string | null;
}

/** One entry of GET /tokens: never its secret or hash. */
export interface TokenView {
  id: number;
  name: string;
  role: Role;
  /** null: an admin token that spans every project. */
  project: string | null;
  createdAt: string;
  /** null: never expires. */
  expiresAt: string | null;
  /** Updated at most once a minute. */
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** POST /tokens: the secret, shown this once. */
export interface CreatedTokenView extends TokenView {
  token: string;
}
