// How the CLI prints for people: aligned tables, ages, byte counts. --json prints the API's JSON instead.

/** Prints `data` as the API's JSON with --json, otherwise the text `human()` makes of it. */
export type Out = (data: unknown, human: () => string) => void;

const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));

/** An aligned table with upper-case headers; null and undefined cells print as '-'. */
export function table(rows: ReadonlyArray<object>, columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => cell((r as Record<string, unknown>)[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

/** How long ago an ISO time was: 42s, 5m, 3h, 2d. */
export function age(iso: string | null | undefined): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
}

const IEC = ['Ki', 'Mi', 'Gi', 'Ti', 'Pi'] as const;

/** A byte count in IEC units, as the CLI also reads them (parseSize): 512, 64Mi, 1.5Gi. */
export function bytes(n: number): string {
  let unit = -1;
  while (unit + 1 < IEC.length && n >= 1024 ** (unit + 2)) unit++;
  if (unit < 0) return String(n);
  const value = n / 1024 ** (unit + 1);
  return `${Number.isInteger(value) ? value : value.toFixed(1)}${IEC[unit]}`;
}
