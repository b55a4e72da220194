import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { NagayaError } from '../errors';
import type { Logger } from '../observability/logger';
import { jsonBody } from './json-body';
import { authenticate, identityOf } from './auth';
import { errorBody, httpStatusOf, toApiError } from './http-errors';
import type { RouteDeps } from './operation';
import { OPERATIONS } from './operations';
import { registerOperations } from './register-operations';
import { answerHealth, answerMetrics } from './routes/system-routes';
import { securityHeaders } from './security-headers';

export interface AppDeps extends RouteDeps {
  log: Logger;
  bodyLimitBytes: number;
  /** Serves the dashboard at / (absent: no dashboard). */
  dashboard?: express.RequestHandler;
}

/** The operations, to count a request that no route ran for under the route it was meant for. */
const OPERATION_PATTERNS = OPERATIONS.map((op) => ({
  method: op.method.toUpperCase(),
  path: new RegExp(`^/api/v1${op.path.replace(/\{\w+\}/g, '[^/]+')}/?$`, 'i'),
  route: op.path.replace(/\{(\w+)\}/g, ':$1'),
}));

/**
 * The route label of nagaya_http_requests_total: the route that answered; for a request refused
 * before any route ran (no token, a body that is not JSON or too large), the operation whose path
 * it has. Never the raw path: every token may read /metrics, and a path names another project's
 * containers and projects; each new path would also be a new series.
 */
function routeLabel(req: Request, status: number): string {
  const routed = req.route?.path as string | undefined;
  if (routed) return routed;
  const path = req.originalUrl.split('?')[0] ?? '';
  const meant = OPERATION_PATTERNS.find((op) => op.method === req.method && op.path.test(path));
  return meant?.route ?? (status === 404 ? 'unmatched' : 'other');
}

/** Builds the express app: /api/v1 (REST), /healthz, /metrics and the dashboard. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // No ETag on JSON answers: hashing every body (a megabyte for GET /containers at 1,000 rows)
  // costs each request CPU, and no client sends If-None-Match (the dashboard's static files keep theirs).
  app.set('etag', false);
  app.use(securityHeaders);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const requestId = /^[\w.-]{1,100}$/.test(req.get('x-request-id') ?? '') ? req.get('x-request-id')! : randomUUID();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      deps.metrics.httpRequests.inc({ method: req.method, route: routeLabel(req, res.statusCode), status: String(res.statusCode) });
      if (req.path === '/healthz' || req.path.endsWith('/healthz')) return;
      deps.log.info('request', {
        requestId,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
        actor: res.locals.identity?.name,
      });
    });
    next();
  });

  app.get('/healthz', (_req: Request, res: Response) => answerHealth(deps, res));

  const api = express.Router();
  api.use(jsonBody(deps.bodyLimitBytes));
  api.use(authenticate(deps.tokens));
  registerOperations(app, api, OPERATIONS, deps);
  api.use((req: Request) => {
    throw new NagayaError('NOT_FOUND', `no route ${req.method} /api/v1${req.path}`);
  });
  app.use('/api/v1', api);
  app.get('/metrics', authenticate(deps.tokens), (_req: Request, res: Response) => answerMetrics(deps, res, identityOf(res)));

  if (deps.dashboard) app.use(deps.dashboard);

  app.use((req: Request, _res: Response) => {
    throw new NagayaError('NOT_FOUND', `no route ${req.method} ${req.path}`);
  });
  // The one place an error becomes an HTTP answer.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const apiError = toApiError(err);
    if (apiError.code === 'INTERNAL') {
      deps.log.error('internal error', {
        requestId: res.locals.requestId,
        error: (apiError.cause ?? err) as Error,
        stack: ((apiError.cause ?? err) as Error)?.stack,
      });
    }
    if (res.headersSent) return;
    res.status(httpStatusOf(apiError)).json(errorBody(apiError));
  });
  return app;
}
