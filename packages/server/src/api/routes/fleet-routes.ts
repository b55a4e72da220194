import { Router } from 'express';
import { NagayaError, type Allocator } from '@nagaya/allocator';
import { identityOf, requireRole } from '../auth';
import { allocationsQuery, createPoolSchema, createTokenSchema, dnsLabel, imageImportQuery, jobListQuery, tokenIdParam } from '../schemas';
import type { ImageStore } from '../../images/image-store';
import type { JobQueues } from '../../jobs/job-queues';
import type { AuditStore } from '../../store/audit-store';
import type { ContainerStore } from '../../store/container-store';
import type { NodeStore } from '../../store/node-store';
import type { TokenStore } from '../../store/token-store';

export interface FleetRouteDeps {
  allocator: Allocator;
  queues: JobQueues;
  nodes: NodeStore;
  images: ImageStore;
  tokens: TokenStore;
  audit: AuditStore;
  containers: ContainerStore;
  imageUploadLimitBytes: number;
}

/** Pools and allocations as the API shows them: each pool with its slot counts. */
async function poolView(allocator: Allocator, name: string) {
  const [pool, stats] = await Promise.all([allocator.getPool(name), allocator.stats(name)]);
  return {
    name: pool.name,
    source: pool.source,
    uid: pool.uidRanges.map((r) => ({ start: r.start, count: r.end - r.start })),
    gid: pool.gidRanges.map((r) => ({ start: r.start, count: r.end - r.start })),
    uidOrigin: pool.uidOrigin,
    gidOrigin: pool.gidOrigin,
    sliceSize: pool.sliceSize,
    quarantineSeconds: pool.quarantineSeconds,
    rawAllowed: {
      uid: pool.rawAllowed.uid.map((r) => ({ start: r.start, count: r.end - r.start })),
      gid: pool.rawAllowed.gid.map((r) => ({ start: r.start, count: r.end - r.start })),
    },
    slices: stats,
  };
}

/** /jobs, /pools, /allocations, /images, /nodes, /whoami, /tokens. */
export function fleetRoutes(deps: FleetRouteDeps): Router {
  const { allocator, queues, nodes, images, tokens, audit, containers } = deps;
  const r = Router();

  r.get('/jobs', async (req, res) => {
    const q = jobListQuery.parse(req.query);
    let containerId: string | undefined;
    if (q.container) containerId = (await containers.getByName(q.container)).id;
    res.json({ jobs: await queues.list({ ...(containerId ? { containerId } : {}), ...(q.state ? { state: q.state } : {}), ...(q.limit ? { limit: q.limit } : {}) }) });
  });
  r.get('/jobs/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!/^[-a-z0-9]{1,100}$/.test(id)) throw new NagayaError('NOT_FOUND', `no job ${id}`);
    res.json(await queues.get(id));
  });
  r.post('/jobs/:id/retry', async (req, res) => {
    const actor = requireRole(res, 'operator');
    const id = String(req.params.id);
    // as GET /jobs/:id: an id that no job can have never reaches SQL (a NUL made Postgres fail: 500, found by e2e/test/fault-bad-input)
    if (!/^[-a-z0-9]{1,100}$/.test(id)) throw new NagayaError('NOT_FOUND', `no job ${id}`);
    const job = await queues.retry(id);
    await audit.record(actor.name, 'job.retry', job.id);
    res.status(202).json(job);
  });

  r.get('/pools', async (_req, res) => {
    const pools = await allocator.listPools();
    res.json({ pools: await Promise.all(pools.map((p) => poolView(allocator, p.name))) });
  });
  r.get('/pools/:name', async (req, res) => {
    res.json(await poolView(allocator, dnsLabel.parse(req.params.name)));
  });
  r.post('/pools', async (req, res) => {
    const actor = requireRole(res, 'admin');
    const body = createPoolSchema.parse(req.body);
    const range = (x: { start: number; count: number }) => ({ start: x.start, end: x.start + x.count });
    await allocator.createPool({
      name: body.name, uidRanges: [range(body.uid)], gidRanges: [range(body.gid)],
      ...(body.sliceSize ? { sliceSize: body.sliceSize } : {}),
      ...(body.quarantineSeconds === undefined ? {} : { quarantineSeconds: body.quarantineSeconds }),
      rawAllowed: { uid: (body.rawAllowed?.uid ?? []).map(range), gid: (body.rawAllowed?.gid ?? []).map(range) },
      source: 'api',
    });
    await audit.record(actor.name, 'pool.create', body.name, body);
    res.status(201).json(await poolView(allocator, body.name));
  });

  r.get('/allocations', async (req, res) => {
    const q = allocationsQuery.parse(req.query);
    const slices = await allocator.list({ ...(q.pool ? { pool: q.pool } : {}), includeQuarantined: q.history === 'true' });
    // Owners are container ids; show names beside them.
    const names = new Map((await containers.list()).map((c) => [c.id, c.name]));
    res.json({
      allocations: slices.map((s) => ({
        pool: s.pool, kind: s.kind, state: s.state, owner: s.owner, container: s.owner ? names.get(s.owner) ?? null : null,
        sharedBy: s.sharedBy?.map((o) => names.get(o) ?? o), slot: s.slot, slots: s.slots,
        uid: s.uid ? { start: s.uid.start, count: s.uid.end - s.uid.start } : null,
        gid: s.gid ? { start: s.gid.start, count: s.gid.end - s.gid.start } : null,
        nsUid: s.nsUid, nsGid: s.nsGid, key: s.key, createdAt: s.createdAt, releasedAt: s.releasedAt,
      })),
    });
  });

  r.get('/images', async (_req, res) => {
    res.json({ images: (await images.list()).map(({ path: _path, ...rest }) => rest) });
  });
  r.post('/images', async (req, res) => {
    const actor = requireRole(res, 'operator');
    const { name } = imageImportQuery.parse(req.query);
    const length = Number(req.get('content-length') ?? 0);
    if (length > deps.imageUploadLimitBytes) throw new NagayaError('PAYLOAD_TOO_LARGE', `the image is larger than ${deps.imageUploadLimitBytes} bytes`);
    const image = await images.import(name, req, deps.imageUploadLimitBytes);
    await audit.record(actor.name, 'image.import', name, { files: image.files, sizeBytes: image.sizeBytes });
    const { path: _path, ...rest } = image;
    res.status(201).json(rest);
  });

  r.get('/nodes', async (_req, res) => {
    res.json({ nodes: await nodes.list() });
  });

  r.get('/whoami', (_req, res) => {
    const { name, role } = identityOf(res);
    res.json({ name, role });
  });

  r.get('/tokens', async (_req, res) => {
    requireRole(res, 'admin');
    res.json({ tokens: await tokens.list() });
  });
  r.post('/tokens', async (req, res) => {
    const actor = requireRole(res, 'admin');
    const body = createTokenSchema.parse(req.body);
    const { token, view } = await tokens.create(body.name, body.role, body.expiresInSeconds);
    await audit.record(actor.name, 'token.create', body.name, { id: view.id, role: body.role, expiresAt: view.expiresAt });
    res.status(201).json({ token, ...view });
  });
  r.delete('/tokens/:id', async (req, res) => {
    const actor = requireRole(res, 'admin');
    const revoked = await tokens.revoke(tokenIdParam.parse(req.params.id));
    await audit.record(actor.name, 'token.revoke', revoked.name, { id: revoked.id, role: revoked.role });
    res.json(revoked);
  });

  return r;
}
