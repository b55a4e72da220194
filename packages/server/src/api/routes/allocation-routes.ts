import type { AllocationView } from '@nagaya/contract';
import { allocationsQuery } from '@nagaya/contract/schemas';
import { operation, type Operation, type Sendable } from '../operation';

/** /allocations: who holds which host range. */
export const allocationOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/allocations',
    summary: 'Who holds which host ID range',
    role: 'viewer',
    success: 200,
    query: allocationsQuery,
    handle: async ({ deps, query: q }) => {
      const slices = await deps.allocator.list({ ...(q.pool ? { pool: q.pool } : {}), includeQuarantined: q.history === 'true' });
      // Owners are container ids; show names beside them.
      const names = new Map((await deps.containers.list()).map((c) => [c.id, c.name]));
      const allocations = slices.map((s) => ({
        pool: s.pool,
        kind: s.kind,
        state: s.state,
        owner: s.owner,
        container: s.owner ? (names.get(s.owner) ?? null) : null,
        sharedBy: s.sharedBy?.map((o) => names.get(o) ?? o),
        slot: s.slot,
        slots: s.slots,
        uid: s.uid ? { start: s.uid.start, count: s.uid.end - s.uid.start } : null,
        gid: s.gid ? { start: s.gid.start, count: s.gid.end - s.gid.start } : null,
        nsUid: s.nsUid,
        nsGid: s.nsGid,
        key: s.key,
        createdAt: s.createdAt,
        releasedAt: s.releasedAt,
      }));
      return { allocations: allocations satisfies Array<Sendable<AllocationView>> };
    },
  }),
];
