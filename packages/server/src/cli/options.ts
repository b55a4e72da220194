// Option values as the API takes them. The CLI reads numbers and sizes itself, so a refusal is a
// sentence that names the option (exit 2, INVALID_INPUT), never zod's text about a field it was
// handed (`Number('512M')` is NaN, which JSON sends as null: "expected number, received null").
import { ApiError, parseSize, SIZE_FORMS } from '@nagaya/contract';

/** A usage error: INVALID_INPUT, so the CLI exits 2 with the message. */
export const usageError = (message: string): ApiError => new ApiError(0, 'INVALID_INPUT', message);

/** A size option in bytes (`--memory 512M`); undefined when the option is absent. */
export function sizeOption(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bytes = parseSize(text);
  if (bytes === undefined) throw usageError(`--${option} takes a size such as ${SIZE_FORMS}, not ${JSON.stringify(text)}`);
  return bytes;
}

/** A whole-number option (`--pids 64`); undefined when the option is absent. */
export function wholeNumberOption(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw usageError(`--${option} takes a whole number, not ${JSON.stringify(text)}`);
  return n;
}

/** A number option that may have decimals (`--cpus 1.5`); undefined when the option is absent. */
export function decimalOption(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(n)) throw usageError(`--${option} takes a number such as 2 or 0.5, not ${JSON.stringify(text)}`);
  return n;
}

/** `--env K=V`, repeated, as the object the API takes (split at the first `=`). */
export function envOption(pairs: string[] | undefined): Record<string, string> {
  return Object.fromEntries((pairs ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: a duration back from now (`10m`, `1h30m`, `45s`) becomes the RFC 3339 time it names;
 * an RFC 3339 time or Unix seconds go to the API as they are (it checks them).
 */
export function sinceOption(text: string, now = Date.now()): string {
  if (/^(\d+(ms|s|m|h|d))+$/.test(text)) {
    let ms = 0;
    for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(n) * DURATION_UNIT_MS[unit!]!;
    return new Date(now - ms).toISOString();
  }
  if (/^\d+(\.\d+)?$/.test(text) || /^\d{4}-\d{2}-\d{2}T/.test(text)) return text;
  throw usageError(`--since takes a duration such as 10m or 1h30m, an RFC 3339 time or Unix seconds, not ${JSON.stringify(text)}`);
}
