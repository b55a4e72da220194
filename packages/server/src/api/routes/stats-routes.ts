import { dnsLabel } from '@nagaya/contract/schemas';
import { operation, type Operation } from '../operation';

/** /containers/{name}/stats: what a running container uses, read on its node. */
export const statsOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/containers/{name}/stats',
    summary: 'Memory (current and peak), CPU seconds, pids and writable-layer bytes of a running container, read on its node',
    role: 'viewer',
    scope: 'project',
    success: 200,
    params: { name: dnsLabel },
    handle: ({ deps, scope, params }) => deps.containerStats.stats(scope.project, params.name),
  }),
];
