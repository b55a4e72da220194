import type { Express, Request, Response, Router } from 'express';
import { requireRole } from './auth';
import type { TokenIdentity } from '../store/token-store';
import type { Operation, RouteDeps } from './operation';

/**
 * Registers every operation of the table in one loop. Each request goes the same way: role,
 * then headers, query, body and path parameters against the operation's schemas, then the
 * handler, whose return value is the JSON answer with the operation's success status.
 * Operations without a role go on the app itself, ahead of authentication.
 */
export function registerOperations(app: Express, api: Router, operations: readonly Operation[], deps: RouteDeps): void {
  for (const op of operations) {
    const handler = async (req: Request, res: Response) => {
      const actor = op.role === 'none' ? undefined : requireRole(res, op.role);
      for (const [name, schema] of Object.entries(op.headers ?? {})) schema.parse(req.get(name));
      const query = op.query?.parse(req.query);
      const body = op.body?.parse(op.bodyMayBeAbsent ? (req.body ?? {}) : req.body);
      const params = Object.fromEntries(Object.entries(op.params ?? {}).map(([name, schema]) => [name, schema.parse(req.params[name])]));
      const result = await op.handle({ req, res, deps, actor: actor as TokenIdentity, body, query, params });
      if (!res.headersSent) res.status(op.success).json(result);
    };
    const path = op.path.replace(/\{(\w+)\}/g, ':$1');
    if (op.role === 'none') app[op.method](`/api/v1${path}`, handler);
    else api[op.method](path, handler);
  }
}
