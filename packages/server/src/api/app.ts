import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { NagayaError } from '@nagaya/allocator';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { ContainerService } from '../services/container-service';
import type { Db } from '../store/db';
import type { IdempotencyStore } from '../store/idempotency-store';
import type { TokenStore } from '../store/token-store';
import { authenticate } from './auth';
import { checkHealth } from './health';
import { errorBody, HTTP_STATUS, toApiError } from './http-errors';
import { buildOpenApi } from './openapi';
import { securityHeaders } from './security-headers';
import { containerRoutes } from './routes/container-routes';
import { fleetRoutes, type FleetRouteDeps } from './routes/fleet-routes';

export interface AppDeps extends FleetRouteDeps {
  db: Db;
  redis: Redis;
  metrics: Metrics;
  log: Logger;
  containerService: ContainerService;
  idempotency: IdempotencyStore;
  tokens: TokenStore;
  bodyLimitBytes: number;
  version: string;
  /** Serves the dashboard at / (absent: no dashboard). */
  dashboard?: express.RequestHandler;
}

/** Builds the express app: /api/v1 (REST), /healthz, /metrics and the dashboard. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(securityHeaders);

  app.use((req: Request, res: Response, next: NextFunction) => {
    const requestId = /^[\w.-]{1,100}$/.test(req.get('x-request-id') ?? '') ? req.get('x-request-id')! : randomUUID();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? 'unmatched' : req.path);
      deps.metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      if (req.path === '/healthz' || req.path.endsWith('/healthz')) return;
      deps.log.info('request', {
        requestId, method: req.method, path: req.path, status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6, actor: res.locals.identity?.name,
      });
    });
    next();
  });

  const health = async (_req: Request, res: Response) => {
    const report = await checkHealth(deps.db, deps.redis);
    res.status(report.status === 'ok' ? 200 : 503).json(report);
  };
  app.get('/healthz', health);
  app.get('/api/v1/healthz', health);

  const api = express.Router();
  api.use(express.json({ limit: deps.bodyLimitBytes, strict: true, type: ['application/json', 'application/*+json'] }));
  api.use(authenticate(deps.tokens));
  const metrics = async (_req: Request, res: Response) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  };
  api.get('/metrics', metrics);
  const openapi = buildOpenApi(deps.version);
  api.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  api.use(containerRoutes(deps.containerService, deps.idempotency));
  api.use(fleetRoutes(deps));
  api.use((req: Request) => {
    throw new NagayaError('NOT_FOUND', `no route ${req.method} /api/v1${req.path}`);
  });
  app.use('/api/v1', api);
  app.get('/metrics', authenticate(deps.tokens), metrics);

  if (deps.dashboard) app.use(deps.dashboard);

  app.use((req: Request, _res: Response) => {
    throw new NagayaError('NOT_FOUND', `no route ${req.method} ${req.path}`);
  });
  // The one place an error becomes an HTTP answer.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const apiError = toApiError(err);
    if (apiError.code === 'INTERNAL') {
      deps.log.error('internal error', { requestId: res.locals.requestId, error: (apiError.cause ?? err) as Error, stack: ((apiError.cause ?? err) as Error)?.stack });
    }
    if (res.headersSent) return;
    res.status(HTTP_STATUS[apiError.code]).json(errorBody(apiError));
  });
  return app;
}
