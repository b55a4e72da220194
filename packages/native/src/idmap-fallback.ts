import { join } from 'node:path';

import { NativeError } from './errors';
import type { ResolvedPlan } from './plan';
import type { LaunchOptions } from './runtime-types';
import { prepareShiftedCopy } from './shifted-copy';

// Where an image cannot be idmapped (idmappedMounts off, or a kernel or filesystem that refuses),
// a launch falls back to a private copy of the image shifted into the container's slice.

/** Errors of the idmapped-mount step that mean "not supported here" rather than a bug. */
const IDMAP_UNSUPPORTED = new Set(['EINVAL', 'ENOSYS', 'EOPNOTSUPP', 'EPERM']);

/** Tells whether a launch failed only because the image could not be idmapped here (a shifted copy may do instead). */
export function idmapUnsupported(resolved: ResolvedPlan, err: unknown): boolean {
  const e = err as NativeError;
  return resolved.idmapped && e.step === 'idmap-image' && IDMAP_UNSUPPORTED.has(e.code);
}

/** Switches a plan to a private copy of its image shifted into the container's slice (one layer only). */
export async function useShiftedCopy(resolved: ResolvedPlan, options: LaunchOptions, cause?: unknown): Promise<void> {
  if (resolved.layers.length > 1) {
    const why = cause instanceof Error ? `: ${cause.message}` : ' (idmappedMounts is off)';
    throw new NativeError(`a ${resolved.layers.length}-layer image needs idmapped mounts${why}`, {
      code: 'EOPNOTSUPP',
      step: 'idmap-image',
    });
  }
  const copy = join(resolved.containerDir, 'shifted-image');
  const image = await prepareShiftedCopy(resolved.layers[0], copy, resolved.uidMap, resolved.gidMap, options.onShiftProgress);
  resolved.layers = [image];
  resolved.idmapped = false;
}
