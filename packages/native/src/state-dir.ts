import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

import { NativeError } from './errors';
import type { LaunchPlan, ResolvedPlan } from './plan';
import { writePrivateFile } from './private-file';

// The state directory a runtime and its launcher share (containers/<id> and mnt/rootfs, root only),
// and the files the runtime writes there for a launch.

/** Checks that stateDir is an absolute path and makes its layout, every directory of it 0700. */
export function prepareStateDir(stateDir: unknown): asserts stateDir is string {
  if (typeof stateDir !== 'string' || !isAbsolute(stateDir)) {
    throw new NativeError('stateDir must be an absolute path', { code: 'INVALID_ARGUMENT' });
  }
  // Root only: plans hold secrets and upper/ holds what containers made, setuid files included.
  // Containers reach their own directories through fds the launcher opens for them.
  mkdirSync(join(stateDir, 'containers'), { recursive: true, mode: 0o700 });
  mkdirSync(join(stateDir, 'mnt', 'rootfs'), { recursive: true, mode: 0o700 });
  // an existing state directory of an earlier version was 0711 all the way down
  for (const dir of [stateDir, join(stateDir, 'containers'), join(stateDir, 'mnt')]) chmodSync(dir, 0o700);
}

/**
 * Writes a launch's plan.json into its container directory, kept for operators and restarts; its
 * stdin (up to 16 MiB) goes to a file of its own, which the launcher reads from.
 */
export function writePlanFiles(plan: LaunchPlan, resolved: ResolvedPlan): void {
  const { stdin, ...kept } = plan;
  const recorded = stdin === undefined ? kept : { ...kept, stdinBytes: stdin.byteLength };
  writePrivateFile(join(resolved.containerDir, 'plan.json'), `${JSON.stringify(recorded, null, 2)}\n`);
  if (stdin !== undefined && resolved.stdinFile !== undefined) writePrivateFile(resolved.stdinFile, stdin);
}

/** A container directory's writable layer, overlayfs's upper and work directories, unless its plan named others. */
export const WRITABLE_LAYER_DIRS = { upper: 'upper', work: 'work' } as const;

/**
 * Deletes the writable layer of a container directory: the part its IDs own files in (setuid ones
 * included). rmSync does not follow symlinks, so a link the container made points nowhere it could reach.
 */
export function removeWritableLayer(containerDir: string): void {
  for (const part of Object.values(WRITABLE_LAYER_DIRS)) rmSync(join(containerDir, part), { recursive: true, force: true });
}
