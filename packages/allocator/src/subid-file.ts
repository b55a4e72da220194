import { readFile } from 'node:fs/promises';
import { AllocatorError } from './errors';
import { ID_LIMIT, mergeRanges, type IdRange } from './id-range';

/** One line of /etc/subuid or /etc/subgid: `owner:start:count`. */
export interface SubidEntry {
  owner: string;
  start: number;
  count: number;
  line: number;
}

/**
 * Parses the text of a subuid/subgid file, refusing malformed lines, ranges that start at 0 and
 * ranges whose start + count passes 2^32 - 1 (the error names the file and the line).
 * Comments (#) and blank lines are ignored.
 */
export function parseSubidFile(text: string, fileName: string): SubidEntry[] {
  const entries: SubidEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const content = raw.trim();
    if (content === '' || content.startsWith('#')) return;
    const fail = (why: string): never => {
      throw new AllocatorError('INVALID_INPUT', `${fileName}:${line}: ${why}: "${content}"`, {
        file: fileName,
        line,
      });
    };
    const fields = content.split(':');
    if (fields.length !== 3) fail('expected owner:start:count');
    const [owner, startText, countText] = fields as [string, string, string];
    if (owner === '') fail('empty owner');
    if (!/^\d{1,10}$/.test(startText)) fail('start is not a decimal number');
    if (!/^\d{1,10}$/.test(countText)) fail('count is not a decimal number');
    const start = Number(startText);
    const count = Number(countText);
    if (count === 0) fail('count is 0');
    if (start === 0) fail('range starts at host ID 0 (root)');
    if (start + count > ID_LIMIT) fail(`start + count passes ${ID_LIMIT} (2^32 - 1)`);
    entries.push({ owner, start, count, line });
  });
  return entries;
}

/** Returns the merged ranges granted to `user` (by name or numeric uid) in parsed entries. */
export function rangesForUser(entries: readonly SubidEntry[], user: string, uid?: number): IdRange[] {
  const names = new Set([user]);
  if (uid !== undefined) names.add(String(uid));
  return mergeRanges(entries.filter((e) => names.has(e.owner)).map((e) => ({ start: e.start, end: e.start + e.count })));
}

/** LXD's default when a host has no subordinate IDs for the user: 1,000,000,000 IDs from 1,000,000. */
export const FALLBACK_RANGE: IdRange = { start: 1_000_000, end: 1_001_000_000 };

export interface SystemPoolRanges {
  uid: IdRange[];
  gid: IdRange[];
  /** What each side came from, for the log: a file, or the fallback. */
  uidSource: string;
  gidSource: string;
}

export interface LoadSubidOptions {
  user?: string;
  subuidPath?: string;
  subgidPath?: string;
  passwdPath?: string;
  warn?: (message: string) => void;
}

/**
 * Reads the ranges of `user` (default root) from /etc/subuid and /etc/subgid. A missing file or
 * a file without the user falls back to LXD's 1000000 + 1000000000 and says so through `warn`.
 */
export async function loadSystemPoolRanges(options: LoadSubidOptions = {}): Promise<SystemPoolRanges> {
  const user = options.user ?? 'root';
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const uid = await lookupUid(user, options.passwdPath ?? '/etc/passwd');
  const load = async (path: string): Promise<{ ranges: IdRange[]; source: string }> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      warn(`${path} does not exist; using the fallback range 1000000+1000000000 for ${user}`);
      return { ranges: [{ ...FALLBACK_RANGE }], source: 'fallback' };
    }
    const ranges = rangesForUser(parseSubidFile(text, path), user, uid);
    if (ranges.length === 0) {
      warn(`${path} has no entry for ${user}; using the fallback range 1000000+1000000000`);
      return { ranges: [{ ...FALLBACK_RANGE }], source: 'fallback' };
    }
    return { ranges, source: path };
  };
  const u = await load(options.subuidPath ?? '/etc/subuid');
  const g = await load(options.subgidPath ?? '/etc/subgid');
  return { uid: u.ranges, gid: g.ranges, uidSource: u.source, gidSource: g.source };
}

/** Finds a user's numeric uid in a passwd file (a numeric user name is taken as the uid itself). */
async function lookupUid(user: string, passwdPath: string): Promise<number | undefined> {
  if (/^\d+$/.test(user)) return Number(user);
  try {
    const text = await readFile(passwdPath, 'utf8');
    const line = text.split('\n').find((l) => l.split(':')[0] === user);
    const uidText = line?.split(':')[2];
    return uidText !== undefined && /^\d+$/.test(uidText) ? Number(uidText) : undefined;
  } catch {
    return undefined;
  }
}
