import { readFileSync } from 'node:fs';

import { formatIdMapLine, type IdMapLine } from './id-map';
import { isSameProcess } from './proc-stat';

/** A map as a set of lines, whatever their order and the kernel's column padding. */
function canonicalMap(lines: readonly string[]): string {
  return lines.map((line) => line.trim().split(/\s+/).join(' ')).sort().join(';');
}

function readKernelMap(pid: number, kind: 'uid' | 'gid'): string | undefined {
  try {
    return canonicalMap(readFileSync(`/proc/${pid}/${kind}_map`, 'utf8').trim().split('\n'));
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
  const uid = readKernelMap(pid, 'uid');
  const gid = readKernelMap(pid, 'gid');
  if (uid !== canonicalMap(uidMap.map(formatIdMapLine)) || gid !== canonicalMap(gidMap.map(formatIdMapLine))) return false;
  return isSameProcess(pid, startTime);
}
