import { chmodSync, mkdirSync } from 'node:fs';
import { rm, rmdir, unlink } from 'node:fs/promises';
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
 * The files a container directory holds besides its writable layer, as the runtime and its
 * launcher name them (plan, records, console log and its index, a run's captured output and
 * stdin, its veth record). Removing these by name, and then the directory, is a third of what
 * a walk costs; anything else there (a rotated log) makes the last rmdir fail, and a walk
 * removes the rest.
 */
const CONTAINER_FILES = [
  'plan.json',
  'launching.json',
  'state.json',
  'exit.json',
  'console.log',
  'console.log.idx',
  'stdout',
  'stderr',
  'stdin',
  'veth',
];

/**
 * Deletes the writable layer of a container directory: the part its IDs own files in (setuid ones
 * included). Off the event loop: on a disk mounted with discard every freed block waits for the
 * device, and a worker settles many runs at once. The empty layer a short run leaves goes with
 * three rmdirs; one the container wrote in is walked by rm, which follows no symlink, so a link
 * the container made points nowhere it could reach.
 */
export async function removeWritableLayer(containerDir: string): Promise<void> {
  const upper = join(containerDir, WRITABLE_LAYER_DIRS.upper);
  const work = join(containerDir, WRITABLE_LAYER_DIRS.work);
  await Promise.all([removeEmptyOrWalk(upper), removeEmptyOrWalk(join(work, 'work')).then(() => removeEmptyOrWalk(work))]);
}

/** Deletes a container directory (records, logs, captured output, and a writable layer if one is left). */
export async function removeContainerDirectory(containerDir: string): Promise<void> {
  await Promise.all(CONTAINER_FILES.map((name) => unlink(join(containerDir, name)).catch(ignoreMissing)));
  await removeWritableLayer(containerDir);
  await removeEmptyOrWalk(containerDir);
}

/** rmdir when the directory is empty (or gone), a recursive rm when it holds anything. */
async function removeEmptyOrWalk(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
    await rm(dir, { recursive: true, force: true });
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
