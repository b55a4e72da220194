import { NagayaError } from '../errors';

/** Credentials for a registry: sent as Basic, or traded for a Bearer token at the registry's realm. */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/** A `WWW-Authenticate` challenge: its scheme and its parameters (realm, service, scope). */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses `WWW-Authenticate` (RFC 7235): `Bearer realm="https://auth.example/token",service="x",scope="repository:a/b:pull"`.
 * Only the first challenge is read; registries send one.
 */
export function parseChallenge(header: string | null): AuthChallenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const param = /([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2] ?? '';
  param.lastIndex = 0;
  for (let p = param.exec(rest); p; p = param.exec(rest)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    if (param.lastIndex >= rest.length) break;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

const basic = (c: RegistryCredentials) => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

/**
 * What a request to a registry carries, kept per registry and scope: after a 401, `answer`
 * trades the challenge for an Authorization header (Basic from the credentials, or a Bearer
 * token from the realm, the distribution spec's token flow), and later requests reuse it until
 * it is refused again.
 */
export class RegistryAuth {
  private readonly headers = new Map<string, string>();

  constructor(
    private readonly credentials: RegistryCredentials | undefined,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  /** The Authorization header already won for this scope, if any. */
  headerFor(scope: string): string | undefined {
    return this.headers.get(scope);
  }

  /** Answers a 401's challenge; IMAGE_UNAVAILABLE when it cannot be (no credentials for Basic, the realm refuses). */
  async answer(challengeHeader: string | null, scope: string, what: string): Promise<string> {
    const challenge = parseChallenge(challengeHeader);
    const refuse = (why: string, details: Record<string, unknown> = {}) =>
      new NagayaError('IMAGE_UNAVAILABLE', `${what}: the registry asks for authentication, and ${why}`, {
        reason: 'unauthorized',
        ...details,
      });
    if (!challenge) throw refuse('says not how (no WWW-Authenticate)');
    let header: string;
    if (challenge.scheme === 'basic') {
      if (!this.credentials) throw refuse('no credentials were given');
      header = basic(this.credentials);
    } else if (challenge.scheme === 'bearer') {
      header = `Bearer ${await this.token(challenge, scope, refuse)}`;
    } else {
      throw refuse(`its scheme ${challenge.scheme} is not Basic or Bearer`);
    }
    this.headers.set(scope, header);
    return header;
  }

  private async token(
    challenge: AuthChallenge,
    scope: string,
    refuse: (why: string, details?: Record<string, unknown>) => NagayaError,
  ): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm || !/^https?:\/\//.test(realm)) throw refuse('its Bearer challenge names no http(s) realm');
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', challenge.params.scope ?? scope);
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        headers: this.credentials ? { authorization: basic(this.credentials) } : {},
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw refuse(`its token service ${url.origin} cannot be reached: ${(err as Error).message}`);
    }
    if (!res.ok) throw refuse(`its token service answered ${res.status}`, { status: res.status });
    const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string' || token.length === 0) throw refuse('its token service sent no token');
    return token;
  }
}
