import { isAbsolute } from 'node:path';

import { NativeError } from './errors';
import { hasNul } from './plan-checks';

// What a container or an exec runs: argv, its environment, and the paths execve tries.

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MAX_EXEC_CANDIDATES = 16;

/** An env as KEY=VALUE strings, with the default PATH when it sets none; what is wrong with it goes to problems. */
export function normalizeEnv(env: string[] | Record<string, string> | undefined, problems: string[], what = 'env'): string[] {
  let entries: string[];
  if (env === undefined) entries = [];
  else if (Array.isArray(env)) entries = env;
  else if (typeof env === 'object' && env !== null) entries = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  else {
    problems.push(`${what} must be an array of KEY=VALUE strings or a record`);
    return [];
  }
  for (const e of entries) {
    if (typeof e !== 'string' || hasNul(e) || e.indexOf('=') <= 0) problems.push(`${what} entry ${JSON.stringify(e)} is not KEY=VALUE`);
  }
  if (!entries.some((e) => typeof e === 'string' && e.startsWith('PATH='))) entries = [`PATH=${DEFAULT_PATH}`, ...entries];
  return entries;
}

/** What is wrong with an argv: it must be a non-empty array of strings without NUL, argv[0] not empty. */
export function argvProblems(argv: unknown, what = 'argv'): string[] {
  if (!Array.isArray(argv) || argv.length === 0) return [`${what} must be a non-empty array of strings`];
  const problems: string[] = [];
  argv.forEach((a, i) => {
    if (typeof a !== 'string' || hasNul(a)) problems.push(`${what}[${i}] must be a string without NUL`);
  });
  if (typeof argv[0] === 'string' && argv[0].length === 0) problems.push(`${what}[0] must not be empty`);
  return problems;
}

/** Lists the paths execve should try for argv[0], searching PATH from env like execvp would. */
export function execCandidates(argv0: string, env: readonly string[]): string[] {
  if (argv0.includes('/')) return [argv0];
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  const dirs = path.split(':').filter((d) => d.startsWith('/'));
  return dirs.slice(0, MAX_EXEC_CANDIDATES).map((d) => `${d.replace(/\/+$/, '')}/${argv0}`);
}

/** Validates the arguments of an exec and returns its env and exec candidates. */
export function resolveExec(argv: string[], env: string[] | Record<string, string> | undefined, cwd: string | undefined) {
  const problems = argvProblems(argv);
  const resolvedEnv = normalizeEnv(env, problems);
  const resolvedCwd = cwd ?? '/';
  if (typeof resolvedCwd !== 'string' || !isAbsolute(resolvedCwd) || hasNul(resolvedCwd)) problems.push('cwd must be an absolute path');
  if (problems.length > 0) {
    throw new NativeError(`invalid exec: ${problems.join('; ')}`, { code: 'INVALID_ARGUMENT', details: problems });
  }
  return { env: resolvedEnv, cwd: resolvedCwd, execCandidates: execCandidates(argv[0], resolvedEnv) };
}
