import { nodeParams, removeNodeSchema } from '@nagaya/contract/schemas';
import type { EvacuationView, NodeRemovalView, NodeView } from '@nagaya/contract';
import { operation, type Operation, type Sendable } from '../operation';

/** /nodes: the worker nodes, their heartbeats and status; evacuating and removing them. */
export const nodeOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/nodes',
    summary: 'Worker nodes, their heartbeats and status',
    role: 'viewer',
    scope: 'fleet',
    success: 200,
    handle: async ({ deps }) => ({ nodes: (await deps.nodes.list()) satisfies Array<Sendable<NodeView>> }),
  }),
  operation({
    method: 'post',
    path: '/nodes/{name}/evacuate',
    summary: 'Mark a node draining; move its pending and stopped containers; list the running ones',
    role: 'admin',
    scope: 'fleet',
    success: 200,
    bodyMayBeAbsent: true,
    params: nodeParams,
    handle: async ({ deps, actor, params }) => (await deps.fleet.evacuate(params.name, actor)) satisfies Sendable<EvacuationView>,
  }),
  operation({
    method: 'post',
    path: '/nodes/{name}/remove',
    summary: 'Remove a dead node: its running containers become lost, their slices fenced (or released)',
    role: 'admin',
    scope: 'fleet',
    success: 200,
    body: removeNodeSchema,
    params: nodeParams,
    handle: async ({ deps, actor, params, body }) =>
      (await deps.fleet.remove(params.name, { releaseSlices: body.releaseSlices === true }, actor)) satisfies Sendable<NodeRemovalView>,
  }),
];
