import type { NextFunction, Request, Response } from 'express';
import { NagayaError } from '../errors';
import type { Role } from '@nagaya/contract';
import type { TokenIdentity, TokenStore } from '../store/token-store';

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Reads `Authorization: Bearer <token>` and puts the caller on res.locals.identity; 401 otherwise. */
export function authenticate(tokens: TokenStore) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S{1,512})$/i.exec(header);
    if (!match) throw new NagayaError('UNAUTHORIZED', 'a bearer token is required (Authorization: Bearer <token>)');
    res.locals.identity = await tokens.authenticate(match[1]!);
    next();
  };
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
