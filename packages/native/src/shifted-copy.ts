import { constants } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  lstat,
  lutimes,
  mkdir,
  opendir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';

import { toHostId, type IdMapLine } from './id-map';

/** How far a shifted copy has got. */
export interface ShiftProgress {
  files: number;
  bytes: number;
  done: boolean;
}

const MARKER = '.nagaya-shifted';
const OVERFLOW_ID = 65534;
const REPORT_EVERY = 500;

function shiftId(map: readonly IdMapLine[], id: number): number {
  // An id the container cannot see becomes its nobody, like the kernel's overflow id.
  return toHostId(map, id) ?? toHostId(map, OVERFLOW_ID) ?? toHostId(map, 0) ?? OVERFLOW_ID;
}

/**
 * Copies an image directory to dest with every owner shifted into the container's slice
 * (ns id n -> host id of n), for hosts where idmapped mounts are missing. This is the slow path
 * (O(files)) the idmapped overlay avoids; onProgress is called every few hundred files and at
 * the end. The copy is built next to dest and renamed into place; an existing copy for the same
 * maps is reused.
 */
export async function prepareShiftedCopy(
  image: string,
  dest: string,
  uidMap: readonly IdMapLine[],
  gidMap: readonly IdMapLine[],
  onProgress?: (progress: ShiftProgress) => void,
): Promise<string> {
  const marker = JSON.stringify({ image, uidMap, gidMap });
  try {
    if ((await readFile(join(dest, MARKER), 'utf8')) === marker) return dest;
  } catch {
    // no usable copy yet
  }
  const staging = `${dest}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  const progress: ShiftProgress = { files: 0, bytes: 0, done: false };

  async function copyEntry(from: string, to: string): Promise<void> {
    const st = await lstat(from);
    if (st.isDirectory()) {
      await mkdir(to);
      for await (const entry of await opendir(from)) await copyEntry(join(from, entry.name), join(to, entry.name));
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else if (st.isFile()) {
      await copyFile(from, to, constants.COPYFILE_FICLONE);
      progress.bytes += st.size;
    } else {
      return; // device nodes, fifos and sockets: containers get their /dev from the launcher
    }
    await lchown(to, shiftId(uidMap, st.uid), shiftId(gidMap, st.gid));
    // chown clears set-id bits, so the mode goes back on after it.
    if (!st.isSymbolicLink()) await chmod(to, st.mode & 0o7777);
    await lutimes(to, st.atime, st.mtime);
    progress.files++;
    if (onProgress && progress.files % REPORT_EVERY === 0) onProgress({ ...progress });
  }

  try {
    await copyEntry(image, staging);
    await writeFile(join(staging, MARKER), marker);
    await rm(dest, { recursive: true, force: true });
    await rename(staging, dest);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  progress.done = true;
  onProgress?.({ ...progress });
  return dest;
}
