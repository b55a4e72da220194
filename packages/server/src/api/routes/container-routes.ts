import { createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { NagayaError } from '@nagaya/allocator';
import { hasRole, identityOf, requireRole } from '../auth';
import { containerListQuery, createContainerSchema, dnsLabel, execSchema, logsQuery, stopSchema, emptySchema } from '../schemas';
import type { ContainerService } from '../../services/container-service';
import type { IdempotencyStore } from '../../store/idempotency-store';

/** /containers: create, list, get, start, stop, restart, delete, exec, logs. */
export function containerRoutes(service: ContainerService, idempotency: IdempotencyStore): Router {
  const r = Router();

  r.post('/containers', async (req: Request, res: Response) => {
    const actor = requireRole(res, 'operator');
    const key = req.get('idempotency-key');
    if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new NagayaError('INVALID_INPUT', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
    }
    const input = createContainerSchema.parse(req.body);
    // Nested user namespaces widen what the container can reach in the kernel: an admin decision.
    if (input.security?.nesting === true && !hasRole(actor, 'admin')) {
      throw new NagayaError('FORBIDDEN', `security.nesting needs the admin role; the token ${actor.name} is ${actor.role}`, { field: 'security.nesting' });
    }
    if (key === undefined) {
      res.status(202).json(await service.create(input, actor));
      return;
    }
    const fingerprint = createHash('sha256').update(JSON.stringify(req.body)).digest('hex');
    const claim = await idempotency.claim(actor.id, key, fingerprint);
    if (claim.kind === 'replay') {
      res.status(claim.status).set('Idempotent-Replayed', 'true').json(claim.body);
      return;
    }
    try {
      const body = await service.create(input, actor);
      await idempotency.complete(actor.id, key, 202, body);
      res.status(202).json(body);
    } catch (err) {
      await idempotency.abandon(actor.id, key);
      throw err;
    }
  });

  r.get('/containers', async (req, res) => {
    const query = containerListQuery.parse(req.query);
    res.json({ containers: await service.list(query) });
  });

  r.get('/containers/:name', async (req, res) => {
    res.json(await service.get(dnsLabel.parse(req.params.name)));
  });

  for (const action of ['start', 'stop', 'restart'] as const) {
    r.post(`/containers/:name/${action}`, async (req, res) => {
      const actor = requireRole(res, 'operator');
      const body = (action === 'start' ? emptySchema : stopSchema).parse(req.body ?? {}) as { timeoutSeconds?: number };
      res.status(202).json(await service.act(dnsLabel.parse(req.params.name), action, actor, body.timeoutSeconds));
    });
  }

  r.delete('/containers/:name', async (req, res) => {
    const actor = requireRole(res, 'operator');
    res.status(202).json(await service.act(dnsLabel.parse(req.params.name), 'delete', actor));
  });

  r.post('/containers/:name/exec', async (req, res) => {
    const actor = requireRole(res, 'operator');
    const body = execSchema.parse(req.body);
    const result = await service.exec(dnsLabel.parse(req.params.name), body.command, body.env, body.timeoutMs, actor);
    res.json(result);
  });

  r.get('/containers/:name/logs', async (req, res) => {
    identityOf(res);
    const { tail } = logsQuery.parse(req.query);
    res.json(await service.logs(dnsLabel.parse(req.params.name), tail));
  });

  return r;
}
