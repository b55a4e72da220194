import type { NetworkMode } from '@nagaya/contract';
import { launchSettings } from '../images/image-config';
import type { ImageRecord } from '../images/image-records';
import type { ContainerMounts } from '../services/container-mounts';
import { containerRunOf } from '../store/container-run';
import type { RunRow } from '../store/run-store';

/** The command a directory image (no config) runs when a run names none: never, a run always names one. */
const NO_FALLBACK: string[] = [];

/**
 * The row of a run attempt's container: the run's spec over its image's config, and its mounts
 * resolved as a container create's (INVALID_INPUT for a volume its project has not, CONFLICT for
 * one on another node).
 */
export async function runContainerRow(
  run: RunRow,
  containerId: string,
  image: ImageRecord,
  on: { node: string; pool: string; mounts: ContainerMounts; defaultPidsMax: number; defaultNetworkMode: NetworkMode },
) {
  const spec = run.spec;
  const mounts = await on.mounts.resolve(run.project, spec.mounts, on.node);
  const config = image.format === 'directory' ? undefined : image.config;
  const settings = launchSettings(config, { command: spec.command, entrypoint: [], env: spec.env }, NO_FALLBACK);
  return {
    id: containerId,
    kind: 'run' as const,
    project: run.project,
    name: `run-${containerId.replaceAll('-', '').slice(0, 12)}`,
    image: spec.image,
    command: settings.command,
    env: settings.env,
    run: containerRunOf(settings),
    restartPolicy: { name: 'no' as const },
    limits: { ...spec.limits, pids: spec.limits?.pids ?? on.defaultPidsMax },
    idmap: {},
    security: {},
    network: spec.network ?? { mode: on.defaultNetworkMode },
    mounts: mounts.records,
    pool: on.pool,
    node: on.node,
  };
}
