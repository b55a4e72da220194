// A run's options: its timeout, how much output is kept, and its stdin.

/** Longest run timeout: 7 days. */
export const MAX_RUN_TIMEOUT_MS = 7 * 24 * 3600 * 1000;
/** Most output kept of each of a run's stdout and stderr. */
export const MAX_RUN_OUTPUT_LIMIT_BYTES = 64 * 1024 * 1024;
/** Most stdin a run may be given. */
export const MAX_RUN_STDIN_BYTES = 16 * 1024 * 1024;

/** What is wrong with a plan's run options (timeoutMs, outputLimitBytes, stdin). */
export function runProblems(plan: { timeoutMs?: number; outputLimitBytes?: number; stdin?: Uint8Array }): string[] {
  const problems: string[] = [];
  const inRange = (value: unknown, min: number, max: number) =>
    Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
  if (plan.timeoutMs !== undefined && !inRange(plan.timeoutMs, 1, MAX_RUN_TIMEOUT_MS))
    problems.push(`timeoutMs must be an integer from 1 to ${MAX_RUN_TIMEOUT_MS}`);
  if (plan.outputLimitBytes !== undefined && !inRange(plan.outputLimitBytes, 0, MAX_RUN_OUTPUT_LIMIT_BYTES))
    problems.push(`outputLimitBytes must be an integer from 0 to ${MAX_RUN_OUTPUT_LIMIT_BYTES}`);
  if (plan.stdin !== undefined) {
    if (!(plan.stdin instanceof Uint8Array)) problems.push('stdin must be a Buffer');
    else if (plan.stdin.byteLength > MAX_RUN_STDIN_BYTES) problems.push(`stdin must be at most ${MAX_RUN_STDIN_BYTES} bytes`);
  }
  return problems;
}
