import type { Response } from 'express';
import { checkHealth } from '../health';
import { buildOpenApi } from '../openapi';
import { operation, type Operation, type RouteDeps } from '../operation';

/** Answers a health check: 200 when Postgres and Redis answer, 503 naming the one that does not. */
export async function answerHealth(deps: RouteDeps, res: Response): Promise<void> {
  const report = await checkHealth(deps.db, deps.redis);
  res.status(report.status === 'ok' ? 200 : 503).json(report);
}

/** Answers with the Prometheus metrics in their text format. */
export async function answerMetrics(deps: RouteDeps, res: Response): Promise<void> {
  res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
}

/** /healthz, /metrics and /openapi.json (built from `operations`, the whole route table). */
export function systemOperations(operations: () => readonly Operation[]): Operation[] {
  const documents = new Map<string, Record<string, unknown>>();
  return [
    operation({
      method: 'get',
      path: '/healthz',
      summary: 'Liveness of the API and its dependencies',
      role: 'none',
      scope: 'fleet',
      success: 200,
      handle: ({ deps, res }) => answerHealth(deps, res),
    }),
    operation({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics',
      role: 'viewer',
      scope: 'fleet',
      success: 200,
      handle: ({ deps, res }) => answerMetrics(deps, res),
    }),
    operation({
      method: 'get',
      path: '/openapi.json',
      summary: 'This document',
      role: 'viewer',
      scope: 'fleet',
      success: 200,
      handle: ({ deps }) => {
        let document = documents.get(deps.version);
        if (!document) {
          document = buildOpenApi(deps.version, operations());
          documents.set(deps.version, document);
        }
        return document;
      },
    }),
  ];
}
