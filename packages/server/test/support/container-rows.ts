import { randomUUID } from 'node:crypto';
import type { NewContainer } from '../../src/store/container-store';

/** A container row as ContainerStore.create takes it: a fresh id and name, busybox, default project and pool, node-a. */
export function newContainer(over: Partial<NewContainer> = {}): NewContainer {
  const id = randomUUID();
  return {
    id,
    project: 'default',
    name: `c-${id.slice(0, 8)}`,
    image: 'busybox',
    command: ['true'],
    env: {},
    limits: {},
    idmap: {},
    security: {},
    pool: 'default',
    node: 'node-a',
    ...over,
  };
}
