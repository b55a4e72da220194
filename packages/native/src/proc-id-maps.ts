import { readFileSync } from 'node:fs';

import { formatIdMapLine, type IdMapLine } from './id-map';
import { isSameProcess } from './proc-stat';

/**
 * Tells whether the text of /proc/<pid>/uid_map (or gid_map) holds exactly these lines, in any
 * order and whatever the kernel's column padding. Undefined text (the file could not be read)
 * never matches.
 */
export function kernelMapMatches(kernelText: string | undefined, lines: readonly IdMapLine[]): boolean {
  if (kernelText === undefined) return false;
  const canonical = (text: readonly string[]) =>
    text
      .map((line) => line.trim().split(/\s+/).join(' '))
      .sort()
      .join(';');
  return canonical(kernelText.trim().split('\n')) === canonical(lines.map(formatIdMapLine));
}

function readKernelMap(pid: number, kind: 'uid' | 'gid'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${kind}_map`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Tells whether the process pid, started at startTime, is alive in a user namespace whose
 * uid_map and gid_map the kernel holds as exactly these lines (in any order). This is what a
 * container's records cannot prove: a plan.json may be half-written when its writer was killed.
 * The start time is checked after the maps are read, so they cannot be another process's that
 * took over the pid meanwhile.
 */
export function processHasIdMaps(pid: number, startTime: string, uidMap: readonly IdMapLine[], gidMap: readonly IdMapLine[]): boolean {
  if (!kernelMapMatches(readKernelMap(pid, 'uid'), uidMap) || !kernelMapMatches(readKernelMap(pid, 'gid'), gidMap)) return false;
  return isSameProcess(pid, startTime);
}
