import { statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

import { pathProblem } from './plan-checks';

// A plan's init: the host's static tini run as PID 1 in front of argv.

/** Debian's tini (package tini), statically linked so it runs in any image. */
export const DEFAULT_INIT_BINARY = '/usr/bin/tini-static';

/**
 * The init binary of a plan that asks for one, or a problem: a host without it is refused, never
 * taken as a plan without an init.
 */
export function resolveInit(init: unknown, initBinary: string, problems: string[]): string | undefined {
  if (init === undefined || init === false) return undefined;
  if (init !== true) {
    problems.push('init must be a boolean');
    return undefined;
  }
  const problem = pathProblem('initBinary', initBinary);
  if (problem) {
    problems.push(problem);
    return undefined;
  }
  let st: Stats;
  try {
    st = statSync(initBinary);
  } catch {
    problems.push(`init needs ${initBinary} on this host (Debian's package tini), and it is missing`);
    return undefined;
  }
  // The child clones it as the container's host uid, and the container's user runs it: both are
  // "others" to the host's root, who owns it.
  if (!st.isFile() || (st.mode & 0o001) === 0) problems.push(`init: ${initBinary} must be a file every user may execute`);
  else if (!searchableByAll(dirname(initBinary)))
    problems.push(`init: every directory above ${initBinary} must be searchable by every user`);
  else return initBinary;
  return undefined;
}

/** Tells whether every user may walk through dir and each directory above it. */
function searchableByAll(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (d === dirname(d)) return true;
  }
}
