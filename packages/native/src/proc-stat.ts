import { readFileSync } from 'node:fs';

/**
 * Reads a process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot), or
 * undefined when no such process exists. pid plus start time names a process for good: a
 * reused pid has a later start time.
 */
export function readStartTime(pid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses; the fields after it follow the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return rest[22 - 3];
}

/** Tells whether the process pid is alive (not a zombie) and is the one that started at startTime. */
export function isSameProcess(pid: number, startTime: string): boolean {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  return state !== 'Z' && state !== 'X' && rest[22 - 3] === startTime;
}
