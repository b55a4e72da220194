import { renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Writes a file that only root may read (plan.json holds the container's environment, secrets
 * included): created 0600 under a temporary name, then renamed, so it is never readable by others,
 * not even for a moment, and never seen half-written. Synchronous on purpose: the file is small,
 * and five threadpool round trips competing with the launcher for two cores cost a launch ~0.5 ms
 * (bench:launch), more than the ~0.1 ms the event loop waits here.
 */
export function writePrivateFile(path: string, text: string | Uint8Array): void {
  // A temporary name per process: two processes launching one id at once (one is refused) must
  // not remove or overwrite each other's half-written file.
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true }); // a leftover keeps its mode on open: start from none
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
}
