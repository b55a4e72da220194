import { createVolumeSchema, volumeParams } from '@nagaya/contract/schemas';
import { operation, type Operation } from '../operation';

/** /volumes: create, list, show, delete. Roles as for containers: a viewer reads, an operator creates and deletes. */
export const volumeOperations: Operation[] = [
  operation({
    method: 'post',
    path: '/volumes',
    summary:
      "Create a volume of the request's project: a directory on one node (default the least loaded), stored with container-relative owners " +
      'and idmapped onto each container that mounts it. sizeBytes only where the node keeps project quotas (400 INVALID_INPUT elsewhere); ' +
      "it counts into the project's diskBytes quota, and a project with that quota requires it",
    role: 'operator',
    scope: 'project',
    success: 201,
    body: createVolumeSchema,
    handle: ({ deps, actor, scope, body }) => deps.volumeService.create(scope.project, body, actor),
  }),
  operation({
    method: 'get',
    path: '/volumes',
    summary: "The project's volumes with the bytes they use and the containers that mount them (all-projects=true: every project's)",
    role: 'viewer',
    scope: 'project',
    success: 200,
    handle: async ({ deps, scope }) => ({ volumes: await deps.volumeService.list(scope.all ? undefined : scope.project) }),
  }),
  operation({
    method: 'get',
    path: '/volumes/{name}',
    summary: 'One volume: its node, size limit, bytes used and the containers that mount it',
    role: 'viewer',
    scope: 'project',
    success: 200,
    params: volumeParams,
    handle: ({ deps, scope, params }) => deps.volumeService.get(scope.project, params.name),
  }),
  operation({
    method: 'delete',
    path: '/volumes/{name}',
    summary: 'Delete a volume and its files (409 CONFLICT while a container, in any state, mounts it)',
    role: 'operator',
    scope: 'project',
    success: 200,
    params: volumeParams,
    handle: ({ deps, actor, scope, params }) => deps.volumeService.delete(scope.project, params.name, actor),
  }),
];
