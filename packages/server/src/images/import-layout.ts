import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { importImage, type ExtractLimits, type ImportedImage } from '@nagaya/native';

/**
 * Imports an OCI layout directory (a pull's) through the same importer as an upload: the
 * directory is streamed as a tar by `tar`, so every blob is verified and every layer unpacked by
 * the one code path that handles hostile archives (`deferUnpack`: see importImage). `keepBlobs`: keep the verified blobs for a push
 * to the fleet's registry (the caller removes them). It costs a spool of the image's bytes; an
 * importer that reads a layout in place would not.
 */
export async function importLayoutDir(
  layoutDir: string,
  store: string,
  layerLimits: ExtractLimits,
  maxArchiveBytes = Number.MAX_SAFE_INTEGER,
  options: { keepBlobs?: boolean; deferUnpack?: boolean } = {},
): Promise<ImportedImage> {
  const tar = spawn('tar', ['-C', layoutDir, '--exclude=*.partial', '-cf', '-', 'oci-layout', 'index.json', 'blobs'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  tar.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<number>((resolve) => tar.once('close', (code) => resolve(code ?? 1)));
  // Read from at once: when a child exits, Node resumes (and so drops the data of) any stdout
  // nobody reads yet, and a small layout's tar exits before the importer starts reading.
  const archive = tar.stdout.pipe(new PassThrough());
  try {
    const imported = await importImage(archive, store, {
      maxArchiveBytes,
      layerLimits,
      keepBlobs: options.keepBlobs ?? false,
      deferUnpack: options.deferUnpack ?? false,
    });
    const code = await exited;
    if (code !== 0) throw new Error(`tar of the pulled layout failed: ${stderr.trim()}`);
    return imported;
  } finally {
    if (tar.exitCode === null) tar.kill('SIGKILL');
  }
}
