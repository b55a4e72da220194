import { z } from 'zod';

// The query of GET /containers/:name/logs.

const logsFlag = z
  .enum(['1', 'true', '0', 'false'])
  .optional()
  .transform((v) => v === '1' || v === 'true');

/** RFC 3339 (2026-12-07T15:04:05Z, 2026-12-07T15:04:05.123456789+01:00) or Unix seconds (1765119845.5). */
const logsSince = z.string().refine((v) => sinceToNanoseconds(v) !== null, {
  message: 'since must be an RFC 3339 time (2026-12-07T15:04:05Z) or Unix seconds',
});

/** The nanoseconds since the epoch of a `since` value (RFC 3339 or Unix seconds), or null if it is neither. */
export function sinceToNanoseconds(value: string): bigint | null {
  if (/^\d{1,12}(\.\d{1,9})?$/.test(value)) {
    const [whole, fraction = ''] = value.split('.');
    return BigInt(whole!) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0'));
  }
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i.exec(value);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

export const logsQuery = z.strictObject({
  tail: z.coerce
    .number()
    .int()
    .min(1)
    .max(1024 * 1024)
    .optional()
    .meta({ description: 'Only the last this many lines (whole lines; at most 1 MiB of them).' }),
  since: logsSince.optional().meta({ description: 'Only lines written at or after this time: RFC 3339, or Unix seconds.' }),
  timestamps: logsFlag.meta({ description: 'Start each line with the time the node saw it (RFC 3339 with nanoseconds) and a space.' }),
  follow: logsFlag.meta({
    description:
      'Stream the log until the container exits or the client leaves: chunked text/plain, or Server-Sent Events (one per line, ' +
      'its id a position that Last-Event-ID resumes from) with Accept: text/event-stream.',
  }),
});
