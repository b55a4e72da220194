// Importing an OCI layout directory in place (a pull's, written by nagaya itself into the store):
// no tar, no spool; each document and blob is read from its own file, found by name under the
// layout without following any link. It then goes through what an archive's import goes through:
// the same resolver, digests, limits and extractor.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { NativeError } from '../errors';
import { ArchiveContents } from './archive-contents';
import { detectFormat } from './archive-format';
import { nodePlatform } from './image-model';
import { type ImportedImage, importResolved, type ImportSettings } from './import-image';
import { resolveOciLayout } from './resolve-oci';
import type { TarEntry, TarIndex } from './tar-index';

/** A layout holds its two documents and a blob per manifest, config and layer; more is not a layout nagaya wrote. */
const MAX_BLOBS = 4096;
const BLOB_NAME = /^[a-f0-9]{64}$/;

/**
 * blobsVerified: every blob under blobs/sha256 was verified against its name as it was written
 * (nagaya's own pull does so before it renames a download into place): a deferred import then
 * moves the layer blobs into the store rather than reading them again. The layout is the
 * caller's to remove afterwards either way.
 */
export type LayoutImportOptions = ImportSettings;

/** Imports the OCI image layout at dir into the layer store, as importImage does an archive. */
export async function importImageLayout(dir: string, store: string, options: LayoutImportOptions): Promise<ImportedImage> {
  return importResolved(store, options, async () => {
    const archive = new ArchiveContents(undefined, await indexLayout(dir));
    const format = detectFormat(archive);
    if (format !== 'oci-layout' && format !== 'docker-save-oci') {
      throw new NativeError(`${dir} is not an OCI image layout (it looks like a ${format})`, { code: 'INVALID_INPUT' });
    }
    return { resolved: await resolveOciLayout(archive, format, options.platform ?? nodePlatform()), archive: undefined };
  });
}

/** The layout's regular files as entries of their own paths: oci-layout, index.json and blobs/sha256/<hex>. */
async function indexLayout(dir: string): Promise<TarIndex> {
  const entries: TarEntry[] = [];
  const file = async (name: string, path: string) => {
    const st = await lstat(path).catch(() => undefined);
    if (st?.isFile()) entries.push({ name, type: 'file', offset: 0, size: st.size, linkname: '', path });
  };
  const top = await readdir(dir);
  for (const name of ['oci-layout', 'index.json']) if (top.includes(name)) await file(name, join(dir, name));
  const blobs = join(dir, 'blobs', 'sha256');
  const names = top.includes('blobs') ? await readdir(blobs).catch(() => [] as string[]) : [];
  if (names.length > MAX_BLOBS) throw new NativeError(`${dir} holds more than ${MAX_BLOBS} blobs`, { code: 'PAYLOAD_TOO_LARGE' });
  for (const name of names) if (BLOB_NAME.test(name)) await file(`blobs/sha256/${name}`, join(blobs, name));
  return { entries, topLevel: new Set(top.filter((n) => ['oci-layout', 'index.json', 'blobs'].includes(n))), dropped: 0 };
}
