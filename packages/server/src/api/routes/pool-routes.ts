import type { Allocator } from '@nagaya/allocator';
import type { PoolView } from '@nagaya/contract';
import { createPoolSchema, dnsLabel } from '@nagaya/contract/schemas';
import { operation, type Operation } from '../operation';

/** A pool as the API shows it: its ranges as start and count, with its slot counts. */
async function poolView(allocator: Allocator, name: string): Promise<PoolView> {
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

/** /pools: list, get, create. */
export const poolOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/pools',
    summary: 'ID pools with slice counts',
    role: 'viewer',
    scope: 'fleet',
    success: 200,
    handle: async ({ deps: { allocator } }) => {
      const pools = await allocator.listPools();
      return { pools: await Promise.all(pools.map((p) => poolView(allocator, p.name))) };
    },
  }),
  operation({
    method: 'post',
    path: '/pools',
    summary: 'Create an ID pool',
    role: 'admin',
    scope: 'fleet',
    success: 201,
    body: createPoolSchema,
    handle: async ({ deps: { allocator, audit }, actor, body }) => {
      const range = (x: { start: number; count: number }) => ({ start: x.start, end: x.start + x.count });
      await allocator.createPool({
        name: body.name,
        uidRanges: [range(body.uid)],
        gidRanges: [range(body.gid)],
        ...(body.sliceSize ? { sliceSize: body.sliceSize } : {}),
        ...(body.quarantineSeconds === undefined ? {} : { quarantineSeconds: body.quarantineSeconds }),
        rawAllowed: { uid: (body.rawAllowed?.uid ?? []).map(range), gid: (body.rawAllowed?.gid ?? []).map(range) },
        source: 'api',
      });
      await audit.record(actor, null, 'pool.create', body.name, body);
      return poolView(allocator, body.name);
    },
  }),
  operation({
    method: 'get',
    path: '/pools/{name}',
    summary: 'One pool with slice counts',
    role: 'viewer',
    scope: 'fleet',
    success: 200,
    params: { name: dnsLabel },
    handle: ({ deps, params }) => poolView(deps.allocator, params.name),
  }),
];
