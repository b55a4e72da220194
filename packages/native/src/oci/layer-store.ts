// A node's content-addressed layer store: <store>/layers/sha256/<diff_id hex> holds one unpacked
// layer (owned 0..65535 as its tar says, the overlay lower of every image that uses it), and
// <store>/staging/<pid>-<random> the spool and half-unpacked layers of one import. A layer
// appears by one rename(2) of a finished directory and leaves by one rename out of place, so a
// reader never sees half a layer, and of two imports unpacking the same layer the first rename
// wins and the other discards its copy. The store is root-only (0700): layers keep setuid files.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { NativeError } from '../errors';

const DIFF_ID = /^sha256:([a-f0-9]{64})$/;
const STAGING_NAME = /^(\d+)-[a-f0-9]+$/;

/** One unpacked layer of the store. */
export interface StoredLayer {
  diffId: string;
  dir: string;
}

function layersDir(store: string): string {
  return join(store, 'layers', 'sha256');
}

/** The directory of the layer with that diff id (whether or not it is there). */
export function layerDir(store: string, diffId: string): string {
  const hex = DIFF_ID.exec(diffId)?.[1];
  if (!hex) throw new NativeError(`${JSON.stringify(diffId)} is not a sha256 diff id`, { code: 'INVALID_ARGUMENT' });
  return join(layersDir(store), hex);
}

/** Makes the store's directories (0700) if they are missing. */
export async function ensureLayerStore(store: string): Promise<void> {
  await mkdir(layersDir(store), { recursive: true, mode: 0o700 });
  await mkdir(join(store, 'staging'), { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}

/** Makes a fresh staging directory for one import (or removal) by this process. */
export async function makeStagingDir(store: string): Promise<string> {
  const dir = join(store, 'staging', `${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { mode: 0o700 });
  return dir;
}

/**
 * Removes staging directories left by processes that are gone (an import killed midway); those
 * of live processes, this one's included, are theirs to finish. Returns how many it removed.
 */
export async function removeStaleStaging(store: string): Promise<number> {
  const staging = join(store, 'staging');
  const names = await readdir(staging).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    const pid = Number(STAGING_NAME.exec(name)?.[1]);
    if (!pid || processAlive(pid)) continue;
    await rm(join(staging, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Moves a finished layer directory into place. Returns false when the layer was already there
 * (another import's rename won): then the staged copy is removed and the one in place is used.
 */
export async function commitLayer(store: string, diffId: string, staged: string): Promise<boolean> {
  try {
    await rename(staged, layerDir(store, diffId));
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    await rm(staged, { recursive: true, force: true });
    return false;
  }
}

/**
 * Removes one layer (the caller, which counts the images that use it, decides when). It leaves
 * its place by one rename, so no import or launch sees it half-removed. Returns false when it
 * was not there.
 */
export async function removeLayer(store: string, diffId: string): Promise<boolean> {
  const dir = layerDir(store, diffId);
  await ensureLayerStore(store);
  const trash = await makeStagingDir(store);
  try {
    await rename(dir, join(trash, 'layer'));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  } finally {
    await rm(trash, { recursive: true, force: true });
  }
}

/** Lists the layers in the store. */
export async function listLayers(store: string): Promise<StoredLayer[]> {
  const names = await readdir(layersDir(store)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names
    .filter((name) => /^[a-f0-9]{64}$/.test(name))
    .sort()
    .map((hex) => ({ diffId: `sha256:${hex}`, dir: join(layersDir(store), hex) }));
}
