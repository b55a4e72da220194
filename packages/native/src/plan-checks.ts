import { isAbsolute } from 'node:path';

// Checks every part of a launch plan uses.

/** Tells whether a string holds a NUL byte (never allowed in a path, argv or env). */
export function hasNul(s: string): boolean {
  return s.includes('\0');
}

/** Checks a path the launcher will put into overlay options or mount calls. */
export function pathProblem(name: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return `${name} must be a non-empty string`;
  if (!isAbsolute(value)) return `${name} must be an absolute path`;
  if (/[\0\n,:\\]/.test(value)) return `${name} must not contain NUL, newline, ',', ':' or '\\' (overlay options)`;
  if (value.length > 1024) return `${name} is too long`;
  return undefined;
}
