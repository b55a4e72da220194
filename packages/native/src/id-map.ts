/** One line of a uid_map or gid_map: ns ids [nsId, nsId+count) map to host ids [hostId, hostId+count). */
export interface IdMapLine {
  nsId: number;
  hostId: number;
  count: number;
}

/** The kernel's limit on lines in one uid_map or gid_map (since Linux 4.15). */
export const MAX_ID_MAP_LINES = 340;
/** (uid_t)-1 = 2^32-1 is no id: the kernel refuses a line that includes it (its end would wrap to 0). */
const ID_LIMIT = 2 ** 32 - 1;

/** Returns the problems with a map (empty when it is valid): ranges, overlaps, size, host 0, ns 0. */
export function idMapProblems(kind: 'uid' | 'gid', lines: readonly IdMapLine[]): string[] {
  const problems: string[] = [];
  if (!Array.isArray(lines) || lines.length === 0) return [`${kind}Map must have at least one line`];
  if (lines.length > MAX_ID_MAP_LINES) problems.push(`${kind}Map has ${lines.length} lines; the kernel allows ${MAX_ID_MAP_LINES}`);
  lines.forEach((line, i) => {
    const where = `${kind}Map[${i}]`;
    for (const key of ['nsId', 'hostId', 'count'] as const) {
      const v = line?.[key];
      if (!Number.isSafeInteger(v) || v < 0) problems.push(`${where}.${key} must be a non-negative integer`);
    }
    if (line.count === 0) problems.push(`${where}.count must be at least 1`);
    if (line.nsId + line.count > ID_LIMIT) problems.push(`${where} reaches ns id 2^32-1, which is no id`);
    if (line.hostId + line.count > ID_LIMIT) problems.push(`${where} reaches host id 2^32-1, which is no id`);
    if (line.hostId === 0) problems.push(`${where} maps host id 0; a container never gets host root`);
  });
  if (problems.length > 0) return problems;
  for (const side of ['nsId', 'hostId'] as const) {
    const sorted = [...lines].sort((a, b) => a[side] - b[side]);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1];
      if (sorted[i][side] < prev[side] + prev.count) {
        problems.push(`${kind}Map lines overlap on the ${side === 'nsId' ? 'namespace' : 'host'} side at ${sorted[i][side]}`);
      }
    }
  }
  if (!lines.some((l) => l.nsId === 0)) problems.push(`${kind}Map must map namespace id 0 (the container's root)`);
  return problems;
}

/** Formats a map line as the kernel reads it: "ns host count". */
export function formatIdMapLine(line: IdMapLine): string {
  return `${line.nsId} ${line.hostId} ${line.count}`;
}

/** Returns the host id that namespace id 0 maps to. */
export function hostRootOf(lines: readonly IdMapLine[]): number {
  const root = lines.find((l) => l.nsId === 0);
  if (!root) throw new Error('map has no line for namespace id 0');
  return root.hostId;
}

/** Translates a namespace id to its host id, or undefined when it is not mapped. */
export function toHostId(lines: readonly IdMapLine[], nsId: number): number | undefined {
  const line = lines.find((l) => nsId >= l.nsId && nsId < l.nsId + l.count);
  return line === undefined ? undefined : line.hostId + (nsId - line.nsId);
}
