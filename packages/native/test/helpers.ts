import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { buildBusyboxImage, ContainerRuntime, type IdMapLine, type LaunchPlan, type RuntimeOptions } from '@nagaya/native';

/** Builds (once per machine, shared by every test file) the busybox image from /bin/busybox. */
export function busyboxImage(): string {
  return buildBusyboxImage(join(tmpdir(), 'nagaya-test-images', 'busybox'));
}

/** A 65536-id slice for uid and gid at base + index * 65536 (each test file picks its own base). */
export function slice(base: number, index: number): IdMapLine[] {
  return [{ nsId: 0, hostId: base + index * 65536, count: 65536 }];
}

/** A fresh state directory and runtime for one test file; cleanup kills everything it started. */
export async function openTestRuntime(
  label: string,
  options: Omit<RuntimeOptions, 'stateDir'> = {},
): Promise<{ runtime: ContainerRuntime; stateDir: string; cleanup: () => Promise<void> }> {
  // mkdtemp makes root 0700: containers reach their directories through the launcher's fds
  const root = mkdtempSync(join(tmpdir(), `nagaya-${label}-`));
  const stateDir = join(root, 'state');
  const runtime = await ContainerRuntime.open({ ...options, stateDir });
  return {
    runtime,
    stateDir,
    cleanup: async () => {
      await runtime.shutdown().catch(() => runtime.close());
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A plan for busybox with the given argv and slice. */
export function busyboxPlan(id: string, argv: string[], map: IdMapLine[], extra: Partial<LaunchPlan> = {}): LaunchPlan {
  return { id, image: busyboxImage(), argv, uidMap: map, gidMap: map, ...extra };
}

/** Returns the directory of a process's cgroup for a v1 controller, or its v2 cgroup. */
export function cgroupDirOf(pid: number, controller: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  for (const line of lines) {
    const [, controllers, path] = line.split(':');
    if (controllers.split(',').includes(controller)) return `/sys/fs/cgroup/${controller}${path}`;
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  return `/sys/fs/cgroup${v2?.slice(3) ?? ''}`;
}

/** Resolves after ms milliseconds. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Lists cgroup directories named id left under the nagaya subtrees of a launcher's cgroups. */
export function leftoverCgroups(launcherPid: number, id: string): string[] {
  const found: string[] = [];
  for (const controller of ['memory', 'pids', 'cpu', 'cpuacct']) {
    const root = `${cgroupDirOf(launcherPid, controller)}/nagaya`;
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      if (entry.isDirectory() && existsSync(`${root}/${entry.name}/${id}`)) found.push(`${root}/${entry.name}/${id}`);
    }
  }
  return found;
}

/** Reads the launcher's pid from a state directory. */
/**
 * The launcher's pid from its pid file. Throws unless the file names a real pid: a 0 taken from an
 * empty file and handed to process.kill would signal the test runner's own process group.
 */
export function launcherPidOf(stateDir: string): number {
  const text = readFileSync(join(stateDir, 'launcher.pid'), 'utf8');
  const pid = Number(/^(\d+) /.exec(text)?.[1]);
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new Error(`no launcher pid in ${stateDir}/launcher.pid: ${JSON.stringify(text)}`);
  return pid;
}

/**
 * Kills every process on this host whose uid lies in [lo, hi): what a test's launcher no longer
 * knows (a container that outlived a failed test, say) must not live on into the next test,
 * which may draw the same uid range.
 */
export function killProcessesInUidRange(lo: number, hi: number): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      if (uid >= lo && uid < hi) {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      }
    } catch {
      /* gone meanwhile */
    }
  }
  return killed;
}
