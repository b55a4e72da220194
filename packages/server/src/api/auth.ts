import type { NextFunction, Request, Response } from 'express';
import { NagayaError } from '../errors';
import { BEARER_SUBPROTOCOL_PREFIX, type Role } from '@nagaya/contract';
import type { TokenIdentity, TokenStore } from '../store/token-store';

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Tokens are at most this long, in either form. */
const TOKEN_MAX_CHARS = 512;
const BEARER_HEADER = /^Bearer\s+(\S{1,512})$/i;

/**
 * Reads the caller's token and puts the caller on res.locals.identity; 401 without one. The token
 * is `Authorization: Bearer <token>`, or, on a WebSocket upgrade without that header (a browser
 * cannot set it there), a Sec-WebSocket-Protocol entry `base64url.bearer.nagaya.<base64url(token)>`.
 */
export function authenticate(tokens: TokenStore) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization');
    const token = header === undefined && isWebSocketUpgrade(req) ? tokenFromSubprotocols(req) : bearerOf(header ?? '');
    if (token === undefined) {
      throw new NagayaError(
        'UNAUTHORIZED',
        isWebSocketUpgrade(req)
          ? `a bearer token is required (Authorization: Bearer <token>, or a Sec-WebSocket-Protocol entry ${BEARER_SUBPROTOCOL_PREFIX}<base64url token>)`
          : 'a bearer token is required (Authorization: Bearer <token>)',
      );
    }
    res.locals.identity = await tokens.authenticate(token);
    next();
  };
}

function bearerOf(header: string): string | undefined {
  return BEARER_HEADER.exec(header)?.[1];
}

/** A GET that asks to become a WebSocket: the only request a token in Sec-WebSocket-Protocol counts on. */
export function isWebSocketUpgrade(req: Request): boolean {
  return req.method === 'GET' && (req.get('upgrade') ?? '').toLowerCase() === 'websocket';
}

/** The token of the one bearer entry among the offered subprotocols; undefined when there is none, or more than one, or it is malformed. */
function tokenFromSubprotocols(req: Request): string | undefined {
  const offered = (req.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
  const bearers = offered.filter((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  if (bearers.length !== 1) return undefined;
  const encoded = bearers[0]!.slice(BEARER_SUBPROTOCOL_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
  const token = Buffer.from(encoded, 'base64url').toString('utf8');
  return /^\S+$/.test(token) && token.length <= TOKEN_MAX_CHARS ? token : undefined;
}

/** The caller of this request (after authenticate). */
export function identityOf(res: Response): TokenIdentity {
  return res.locals.identity as TokenIdentity;
}

/** Tells whether the caller has at least `role`. */
export function hasRole(identity: TokenIdentity, role: Role): boolean {
  return RANK[identity.role] >= RANK[role];
}

/** Refuses the request with 403 unless the caller has at least `role`. */
export function requireRole(res: Response, role: Role): TokenIdentity {
  const identity = identityOf(res);
  if (!hasRole(identity, role)) {
    throw new NagayaError('FORBIDDEN', `this needs the ${role} role; the token ${identity.name} is ${identity.role}`);
  }
  return identity;
}
