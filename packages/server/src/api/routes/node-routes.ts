import type { NodeView } from '@nagaya/contract';
import { operation, type Operation, type Sendable } from '../operation';

/** /nodes: the worker nodes and their heartbeats. */
export const nodeOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/nodes',
    summary: 'Worker nodes and their heartbeats',
    role: 'viewer',
    scope: 'fleet',
    success: 200,
    handle: async ({ deps }) => ({ nodes: (await deps.nodes.list()) satisfies Array<Sendable<NodeView>> }),
  }),
];
