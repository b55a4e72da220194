import type { Allocator } from '@nagaya/allocator';
import type { ContainerRuntime } from '@nagaya/native';
import type { ImageStore } from '../images/image-store';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { NodeNetwork } from '../services/node-network';
import type { ContainerRow, ContainerStore } from '../store/container-store';
import { describeError } from './launch-decisions';
import type { NodeVolumes } from './node-volumes';

/** What this node's lifecycle jobs work with (ContainerJobs and the launch, stop and exit steps it hands jobs to). */
export interface ContainerJobDeps {
  /** This node: a job acts only on a row that still names it (a pending container may have been moved away). */
  nodeName: string;
  containers: ContainerStore;
  allocator: Allocator;
  runtime: ContainerRuntime;
  images: ImageStore;
  /** This node's volume directories: a launch mounts what its row records. */
  volumes?: NodeVolumes;
  log: Logger;
  metrics: Metrics;
  /** This node's container networking; undefined when it has none (a bridge-mode container is then refused). */
  network?: NodeNetwork;
  /** Queues the start of a container its restart policy restarts, after `delayMs`. */
  scheduleRestart: (c: ContainerRow, delayMs: number) => Promise<unknown>;
}

/**
 * Takes a container that no longer runs here out of the node's tables and gives its address
 * back. A failure is logged and left to the reconciler, unless `strict` (delete: the job is
 * retried rather than leave rules for an address the database will hand out again).
 * `unlessStarted` (exit, stop): not if the row has moved on to a new run meanwhile.
 */
export async function detachNetwork(
  deps: Pick<ContainerJobDeps, 'network' | 'log'>,
  c: ContainerRow,
  opts: { strict?: boolean; unlessStarted?: boolean } = {},
): Promise<void> {
  if (!deps.network || c.network?.mode !== 'bridge') return;
  try {
    await deps.network.detach(c, opts.unlessStarted);
  } catch (err) {
    if (opts.strict) throw err;
    deps.log.warn('could not free a container network', { id: c.id, error: describeError(err) });
  }
}
