import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** What a container's cgroups say it uses now; null where no cgroup of it keeps that count. */
export interface CgroupUsage {
  /** Memory charged to the container now (page cache and tmpfs included, as the kernel counts it). */
  memoryBytes: number | null;
  /** The most memory charged to it at once since its cgroup was made. */
  memoryPeakBytes: number | null;
  /** CPU time of all its processes, user and system, since its cgroup was made. */
  cpuSeconds: number | null;
  /** Processes (threads included) in it now. */
  pids: number | null;
}

/** The v1 controller a cgroup directory belongs to ("/sys/fs/cgroup/cpu,cpuacct/…" → cpu,cpuacct), or undefined on v2. */
function v1Controllers(dir: string): string[] | undefined {
  const match = /^\/sys\/fs\/cgroup\/([^/]+)\//.exec(dir);
  if (!match) return undefined;
  const names = match[1].split(',');
  return names.some((n) => ['memory', 'pids', 'cpu', 'cpuacct'].includes(n)) ? names : undefined;
}

/** The first line of a cgroup file as a number, or null when the file is absent or not numeric ("max"). */
async function readNumber(path: string): Promise<number | null> {
  try {
    const value = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** One "key value" line of a flat-keyed cgroup file (cpu.stat), or null. */
async function readKey(path: string, key: string): Promise<number | null> {
  try {
    const text = await readFile(path, 'utf8');
    const line = text.split('\n').find((l) => l.startsWith(`${key} `));
    return line ? Number(line.slice(key.length + 1)) : null;
  } catch {
    return null;
  }
}

/**
 * Reads memory, CPU and pids from the cgroup directories the launcher recorded for a container:
 * v1 (memory.usage_in_bytes, memory.max_usage_in_bytes, cpuacct.usage, pids.current, each in
 * its controller's directory) or v2 (memory.current, memory.peak, cpu.stat, pids.current).
 */
export async function readCgroupUsage(dirs: readonly string[]): Promise<CgroupUsage> {
  const usage: CgroupUsage = { memoryBytes: null, memoryPeakBytes: null, cpuSeconds: null, pids: null };
  await Promise.all(
    dirs.map(async (dir) => {
      const controllers = v1Controllers(dir);
      if (controllers === undefined) {
        const [current, peak, cpuMicros, pids] = await Promise.all([
          readNumber(`${dir}/memory.current`),
          readNumber(`${dir}/memory.peak`),
          readKey(`${dir}/cpu.stat`, 'usage_usec'),
          readNumber(`${dir}/pids.current`),
        ]);
        usage.memoryBytes ??= current;
        usage.memoryPeakBytes ??= peak;
        usage.cpuSeconds ??= cpuMicros === null ? null : cpuMicros / 1e6;
        usage.pids ??= pids;
        return;
      }
      const has = (name: string) => controllers.includes(name);
      const absent = Promise.resolve(null);
      const [current, peak, cpuNanos, pids] = await Promise.all([
        has('memory') ? readNumber(`${dir}/memory.usage_in_bytes`) : absent,
        has('memory') ? readNumber(`${dir}/memory.max_usage_in_bytes`) : absent,
        has('cpuacct') ? readNumber(`${dir}/cpuacct.usage`) : absent,
        has('pids') ? readNumber(`${dir}/pids.current`) : absent,
      ]);
      usage.memoryBytes ??= current;
      usage.memoryPeakBytes ??= peak;
      usage.cpuSeconds ??= cpuNanos === null ? null : cpuNanos / 1e9;
      usage.pids ??= pids;
    }),
  );
  return usage;
}

/**
 * Bytes a directory tree takes on disk (du -s: allocated blocks, hard links once, one file
 * system). du walks with fds and never follows a symlink, so a tree the container rewrites
 * while it is measured cannot lead the walk outside it. Null if the directory does not exist.
 */
export function directoryDiskBytes(dir: string, timeoutMs = 30_000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    execFile('du', ['-s', '-x', '-B1', '--', dir], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const bytes = Number(stdout.split('\t')[0]);
      // du still prints the total when some entry vanished under it (exit 1): the total stands
      if (stdout && Number.isFinite(bytes)) return resolve(bytes);
      if (/No such file or directory/.test(stderr)) return resolve(null);
      reject(err ?? new Error(`du ${dir}: ${stderr.trim()}`));
    });
  });
}
