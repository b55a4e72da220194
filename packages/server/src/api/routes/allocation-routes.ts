import type { AllocationView } from '@nagaya/contract';
import { allocationsQuery } from '@nagaya/contract/schemas';
import { projectKey } from '../../services/sticky-key';
import { operation, type Operation, type Sendable } from '../operation';

/** /allocations: who holds which host range. */
export const allocationOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/allocations',
    summary:
      "Who holds which host ID range: the project's slices; for a token of every project, every project's unless ?project= names one",
    role: 'viewer',
    scope: 'project',
    success: 200,
    query: allocationsQuery,
    handle: async ({ deps, actor, scope, query: q }) => {
      const slices = await deps.allocator.list({ ...(q.pool ? { pool: q.pool } : {}), includeQuarantined: q.history === 'true' });
      // The allocator knows owners (container ids), not projects: containers say whose they are.
      const onlyProject = actor.project === null && !scope.named ? undefined : scope.project;
      const owners = new Map((await deps.containers.list(onlyProject ? { project: onlyProject } : {})).map((c) => [c.id, c]));
      // A tenant sees its own slices, and no owner of anything else (the shared slice shows only its own sharers).
      const visible = onlyProject
        ? slices.filter((s) => (s.owner && owners.has(s.owner)) || s.sharedBy?.some((o) => owners.has(o)))
        : slices;
      const allocations = visible.map((s) => ({
        pool: s.pool,
        project: s.owner ? (owners.get(s.owner)?.project ?? null) : null,
        kind: s.kind,
        state: s.state,
        owner: s.owner,
        container: s.owner ? (owners.get(s.owner)?.name ?? null) : null,
        sharedBy: s.sharedBy?.filter((o) => !onlyProject || owners.has(o)).map((o) => owners.get(o)?.name ?? o),
        slot: s.slot,
        slots: s.slots,
        uid: s.uid ? { start: s.uid.start, count: s.uid.end - s.uid.start } : null,
        gid: s.gid ? { start: s.gid.start, count: s.gid.end - s.gid.start } : null,
        nsUid: s.nsUid,
        nsGid: s.nsGid,
        key: s.key === null ? null : projectKey(s.key),
        createdAt: s.createdAt,
        releasedAt: s.releasedAt,
      }));
      return { allocations: allocations satisfies Array<Sendable<AllocationView>> };
    },
  }),
];
