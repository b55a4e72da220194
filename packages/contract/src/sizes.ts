// Byte sizes as people type them, the same in the CLI and the dashboard (zod-free); the API
// itself only ever takes and returns whole bytes.
//
// Docker's convention for the bare suffixes (`--memory 512m`, `2g`: powers of 1024, any case),
// the explicit IEC units (KiB, MiB, GiB, TiB, PiB, also Ki/Mi/Gi/Ti/Pi as Kubernetes writes them),
// and KB/MB/GB/TB/PB for what they say: powers of 1000.

const BINARY_PREFIXES = ['k', 'm', 'g', 't', 'p'] as const;

/** The multiplier of each unit, keyed by the unit in lower case. */
const UNITS: ReadonlyMap<string, number> = new Map<string, number>([
  ['', 1],
  ['b', 1],
  ...BINARY_PREFIXES.flatMap(
    (p, i): Array<[string, number]> => [
      [p, 1024 ** (i + 1)],
      [`${p}i`, 1024 ** (i + 1)],
      [`${p}ib`, 1024 ** (i + 1)],
      [`${p}b`, 1000 ** (i + 1)],
    ],
  ),
]);

/** How a size may be written, for messages: "512M, 2G, 1.5GiB, 500MB or 1048576 (bytes)". */
export const SIZE_FORMS = '512M, 2G, 1.5GiB, 500MB or 1048576 (bytes)';

/** The whole number, its decimals and the unit; nothing else (no sign, no exponent, no `.5`). */
const SIZE_TEXT = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/**
 * Reads a byte size: a whole number of bytes, or a number with a unit (512M and 512MiB are
 * 536870912, 500MB is 500000000, 1.5G is 1610612736). A fraction of a byte is dropped, as Docker
 * does. Undefined for anything else, or for more bytes than a JavaScript number holds exactly.
 */
export function parseSize(text: string): number | undefined {
  const m = SIZE_TEXT.exec(text.trim());
  if (!m) return undefined;
  const multiplier = UNITS.get(m[2]!.toLowerCase());
  if (multiplier === undefined) return undefined;
  if (multiplier === 1 && m[1]!.includes('.')) return undefined; // 1.5 bytes is a typo, not a size
  const bytes = Math.floor(Number(m[1]) * multiplier);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
