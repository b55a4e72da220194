import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ContainerRecord } from './container-records';
import { NativeError } from './errors';
import type { RunOutput } from './runtime-types';

// What a run leaves behind: its captured stdout and stderr.

/**
 * Reads a run's captured stdout and stderr from its container's record (see
 * ContainerRuntime.readOutput); NOT_FOUND when the container's directory is gone.
 */
export function readRunOutput(record: ContainerRecord, stateDir: string, id: string): RunOutput {
  if (!existsSync(record.dir)) throw new NativeError(`no container ${id} in ${stateDir}`, { code: 'NOT_FOUND' });
  const read = (name: string): Buffer => {
    try {
      return readFileSync(join(record.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    }
  };
  const stdout = read('stdout');
  const stderr = read('stderr');
  const stdoutBytes = Math.max(record.outputBytes?.stdout ?? 0, stdout.length);
  const stderrBytes = Math.max(record.outputBytes?.stderr ?? 0, stderr.length);
  return {
    stdout,
    stderr,
    stdoutTruncated: stdoutBytes > stdout.length,
    stderrTruncated: stderrBytes > stderr.length,
    stdoutBytes,
    stderrBytes,
  };
}
