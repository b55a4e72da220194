/** Small formatting helpers shared by the pages. */
import { parseSize } from '@nagaya/contract';

const MIB = 1024 * 1024;

/**
 * Reads a size field: empty is undefined, a bare number is MiB (what the field's label says), and
 * a number with a unit is read as the CLI reads it (512M, 2G, 1.5GiB: powers of 1024; 500MB: of
 * 1000). Bytes, or an error to show beside the field.
 */
export function readMebibytesOrSize(text: string): { bytes?: number; error?: string } {
  const t = text.trim();
  if (t === '') return {};
  const bytes = /^\d+(\.\d+)?$/.test(t) ? Math.round(Number(t) * MIB) : parseSize(t);
  if (bytes === undefined || !Number.isSafeInteger(bytes))
    return { error: 'a number of MiB, or a size with its unit: 512M, 2G, 1.5GiB (powers of 1024) or 500MB (of 1000)' };
  return { bytes };
}

/** A half-open host range `[start, end)`, the project's one notation for ranges. */
export function range(start: number, count: number): string {
  return `[${start}, ${start + count})`;
}

/** The host uid range that holds the container's root (nsId 0), or null before it has a slice. */
export function rootUidRange(lines: { nsId: number; hostId: number; count: number }[]): string | null {
  const line = lines.find((l) => l.nsId === 0) ?? lines[0];
  return line ? range(line.hostId, line.count) : null;
}

/** One map line as /proc/PID/uid_map prints it (three right-aligned 10-wide columns). */
export function kernelMapLine(l: { nsId: number; hostId: number; count: number }): string {
  return `${String(l.nsId).padStart(10)} ${String(l.hostId).padStart(10)} ${String(l.count).padStart(10)}`;
}

/** A short age: 42s, 5m, 3h, 2d. */
export function age(fromMs: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - fromMs) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** Age of an ISO timestamp. */
export function ageOf(iso: string | null | undefined): string {
  return iso ? age(Date.parse(iso)) : '—';
}

/** Bytes in binary units. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** A local date and time for a title attribute. */
export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** Splits a command line into argv: whitespace separates, '…' and "…" quote, \ escapes. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** Joins argv back into a line that splitArgs reads the same. */
export function joinArgs(argv: string[]): string {
  return argv.map((a) => (/^[-\w./:=@%+,]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
