import type { Response } from 'express';
import { checkHealth } from '../health';
import { buildOpenApi } from '../openapi';
import { operation, type Operation, type RouteDeps } from '../operation';
import type { TokenIdentity } from '../../store/token-store';

/** Answers a health check: 200 when Postgres and Redis answer, 503 naming the one that does not. */
export async function answerHealth(deps: RouteDeps, res: Response): Promise<void> {
  const report = await checkHealth(deps.db, deps.redis);
  res.status(report.status === 'ok' ? 200 : 503).json(report);
}

/**
 * Answers with the Prometheus metrics in their text format. Every token may read them, so the
 * per-container series (labelled with a container's name and project) go only to a caller of
 * every project, or of the container's own: another project's names never leak through them.
 */
export async function answerMetrics(deps: RouteDeps, res: Response, caller: TokenIdentity | undefined): Promise<void> {
  const text = await deps.metrics.registry.metrics();
  res.type(deps.metrics.registry.contentType).send(caller?.project ? withoutOtherProjects(text, caller.project) : text);
}

/** The exposition without per-container samples of projects other than `project`. */
export function withoutOtherProjects(text: string, project: string): string {
  const own = `project="${project.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  return text
    .split('\n')
    .filter((line) => !line.startsWith('nagaya_container_') || line.includes(`,${own}`) || line.includes(`{${own}`))
    .join('\n');
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
      handle: ({ deps, res, actor }) => answerMetrics(deps, res, actor),
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
