import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isAtOrBeneath, KERNEL_PATHS } from '@nagaya/contract';
import type { ContainerMount } from '@nagaya/native';
import { NagayaError } from '../errors';
import type { ContainerRow } from '../store/container-row';

const run = promisify(execFile);

/** A mount as the launcher takes it. */
export type LaunchMount = ContainerMount;

/** The directory under a data directory that holds every volume of a node. */
export const VOLUMES_DIR = 'volumes';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** How long a volume's measured size stands, and how many du run at once. */
const USAGE_FRESH_MS = 5_000;
const USAGE_AT_ONCE = 4;

/** The directory of a volume on its node: `<data dir>/volumes/<project>/<volume id>`. */
export function volumeDir(dataDir: string, project: string, id: string): string {
  // both come from Postgres, where their checks hold; checked again, as they become a path
  if (!DNS_LABEL.test(project) || !UUID.test(id)) throw new NagayaError('INVALID_INPUT', `not a volume: ${project}/${id}`);
  return join(dataDir, VOLUMES_DIR, project, id);
}

/** A volume directory found on disk. */
export interface VolumeDirEntry {
  project: string;
  id: string;
  dir: string;
  /** When the directory was made (its ctime: changed by nothing a container does to its contents). */
  changedAt: Date;
}

/** Whether a filesystem keeps project quotas, and if not, why (said to the user as is). */
export type QuotaSupport = { ok: true; fsType: 'ext4' | 'xfs'; mountPoint: string } | { ok: false; why: string };

/**
 * Finds the mount that holds `path` in mountinfo text and tells whether it keeps project quotas
 * (ext4 or xfs mounted with prjquota; xfs also says pquota). Pure, for tests.
 */
export function quotaSupportOf(mountinfo: string, path: string): QuotaSupport {
  let best: { mountPoint: string; fsType: string; options: string[] } | undefined;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = unescapeMountinfo(left.split(' ')[4] ?? '');
    const [fsType = '', , superOptions = ''] = right.split(' ');
    if (!isAtOrBeneath(path, mountPoint)) continue;
    // the last of equal mount points is the one on top
    if (!best || mountPoint.length >= best.mountPoint.length) {
      best = { mountPoint, fsType, options: [...(left.split(' ')[5] ?? '').split(','), ...superOptions.split(',')] };
    }
  }
  if (!best) return { ok: false, why: `no mount holds ${path}` };
  const where = `${best.mountPoint} (${best.fsType})`;
  if (best.fsType !== 'ext4' && best.fsType !== 'xfs') {
    return { ok: false, why: `the data directory is on ${where}, which keeps no project quotas (ext4 or xfs with prjquota do)` };
  }
  if (!best.options.some((o) => o === 'prjquota' || o === 'pquota' || o === 'prjjquota')) {
    return { ok: false, why: `the data directory is on ${where}, which is not mounted with prjquota` };
  }
  return { ok: true, fsType: best.fsType, mountPoint: best.mountPoint };
}

/** mountinfo writes space, tab, newline and backslash as octal escapes. */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * What a host path may not be: / and the kernel filesystems, the data directory, anything in
 * it (volumes, images, secrets, the launcher's state) and anything that holds it.
 */
export function hostPathRefusal(path: string, dataDir: string): string | undefined {
  if (path === '/') return 'cannot be /';
  const kernel = KERNEL_PATHS.find((k) => isAtOrBeneath(path, k));
  if (kernel) return `cannot be on or beneath ${kernel}`;
  if (isAtOrBeneath(path, dataDir) || isAtOrBeneath(dataDir, path)) {
    return `cannot be nagaya's data directory (${dataDir}), a part of it or a directory that holds it`;
  }
  return undefined;
}

/**
 * A node's volume directories: made (owned 0:0, mode 0755: the root of the container that
 * mounts it), sized, removed and found here, on the node whose disk holds them. The API reaches
 * them through the node's rpc queue. `volumes/` and each project's directory are 0700: files in
 * a volume are owned by host IDs 0..65535 (container-relative), so no other host user may reach them.
 */
export class NodeVolumes {
  /** Recent and running du measures, by volume id. */
  private readonly measures = new Map<string, { at: number; bytes: Promise<number | null> }>();

  constructor(
    private readonly dataDir: string,
    private readonly nodeName: string,
  ) {}

  /** Makes a volume's directory (again, if a retried request made it already) with its size limit, if it has one. */
  async create(project: string, id: string, quota?: { id: number; bytes: number }): Promise<void> {
    if (quota) await this.requireQuotas();
    const root = join(this.dataDir, VOLUMES_DIR);
    await privateDir(root);
    await privateDir(join(root, project));
    const dir = volumeDir(this.dataDir, project, id);
    try {
      await mkdir(dir, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const found = await lstat(dir);
      if (!found.isDirectory()) throw new NagayaError('INTERNAL', `${dir} exists and is not a directory`);
    }
    await chown(dir, 0, 0);
    await chmod(dir, 0o755);
    if (quota) await this.setQuota(dir, quota);
  }

  /**
   * Removes a volume's directory and everything in it. GNU rm walks it by file descriptors and
   * never follows a symlink, even one a process still writing into the volume swaps in for a
   * directory in the middle of the walk (a path-based walk would then delete through it).
   */
  async remove(project: string, id: string): Promise<void> {
    await run('rm', ['-rf', '--one-file-system', '--', volumeDir(this.dataDir, project, id)], { timeout: 300_000 });
  }

  /**
   * Bytes each volume's files take on disk (du), null for one whose directory is missing. A
   * measure is shared by the callers that ask while it runs and kept USAGE_FRESH_MS, and at most
   * USAGE_AT_ONCE run together: a tenant listing volumes in a loop cannot keep the node's request
   * slots busy with du.
   */
  async usage(volumes: Array<{ project: string; id: string }>): Promise<Record<string, number | null>> {
    const out: Record<string, number | null> = {};
    for (let i = 0; i < volumes.length; i += USAGE_AT_ONCE) {
      const batch = volumes.slice(i, i + USAGE_AT_ONCE);
      const sizes = await Promise.all(batch.map((v) => this.measured(v.project, v.id)));
      batch.forEach((v, j) => {
        out[v.id] = sizes[j]!;
      });
    }
    return out;
  }

  private measured(project: string, id: string): Promise<number | null> {
    const now = Date.now();
    const kept = this.measures.get(id);
    if (kept && now - kept.at < USAGE_FRESH_MS) return kept.bytes;
    const bytes = run('du', ['-s', '-x', '-B1', volumeDir(this.dataDir, project, id)], { timeout: 30_000 }).then(
      ({ stdout }) => Number.parseInt(stdout, 10),
      () => null,
    );
    this.measures.set(id, { at: now, bytes });
    for (const [k, v] of this.measures) if (now - v.at >= USAGE_FRESH_MS) this.measures.delete(k);
    return bytes;
  }

  /** Every volume directory on this node's disk. */
  async list(): Promise<VolumeDirEntry[]> {
    const root = join(this.dataDir, VOLUMES_DIR);
    const out: VolumeDirEntry[] = [];
    for (const project of await readdirOrEmpty(root)) {
      if (!DNS_LABEL.test(project)) continue;
      for (const id of await readdirOrEmpty(join(root, project))) {
        if (!UUID.test(id)) continue;
        const dir = join(root, project, id);
        const s = await lstat(dir).catch(() => undefined);
        if (s?.isDirectory()) out.push({ project, id, dir, changedAt: s.birthtime.getTime() > 0 ? s.birthtime : s.ctime });
      }
    }
    return out;
  }

  /** Tells whether a volume's directory exists here. */
  async exists(project: string, id: string): Promise<boolean> {
    const s = await lstat(volumeDir(this.dataDir, project, id)).catch(() => undefined);
    return s?.isDirectory() === true;
  }

  /**
   * The mounts a container's launch hands the launcher, from what its row records: a volume is
   * its directory here, idmapped; a host path is resolved (no symlink is left in it), must be a
   * directory and not one of the refused places, and is idmapped only with `shift`. A missing
   * directory fails the launch for good (INVALID_INPUT): no retry makes it.
   */
  async mountsFor(c: Pick<ContainerRow, 'project' | 'mounts'>): Promise<LaunchMount[]> {
    const out: LaunchMount[] = [];
    for (const m of c.mounts ?? []) {
      if (m.kind === 'volume') {
        // no symlink in it: the launcher opens a source refusing every one (RESOLVE_NO_SYMLINKS)
        const source = volumeDir(await realpath(this.dataDir), c.project, m.volumeId);
        const s = await lstat(source).catch(() => undefined);
        if (!s?.isDirectory()) {
          throw new NagayaError('INVALID_INPUT', `the directory of volume ${m.volume} is missing on node ${this.nodeName}`, {
            volume: m.volume,
          });
        }
        out.push({ source, target: m.path, readOnly: m.readOnly, idmap: true });
        continue;
      }
      const source = await realpath(m.hostPath).catch(() => undefined);
      const s = source ? await stat(source).catch(() => undefined) : undefined;
      if (!source || !s?.isDirectory()) {
        throw new NagayaError('INVALID_INPUT', `host path ${m.hostPath} is not a directory on node ${this.nodeName}`, {
          hostPath: m.hostPath,
        });
      }
      const refusal = hostPathRefusal(source, await realpath(this.dataDir));
      if (refusal) {
        throw new NagayaError('INVALID_INPUT', `host path ${m.hostPath} (${source}) ${refusal}`, { hostPath: m.hostPath });
      }
      out.push({ source, target: m.path, readOnly: m.readOnly, idmap: m.shift });
    }
    return out;
  }

  /** INVALID_INPUT, saying why, unless this node's data directory keeps project quotas. */
  private async requireQuotas(): Promise<QuotaSupport & { ok: true }> {
    const support = quotaSupportOf(await readFile('/proc/self/mountinfo', 'utf8'), await realpath(this.dataDir));
    if (!support.ok) {
      throw new NagayaError('INVALID_INPUT', `node ${this.nodeName} cannot limit a volume's size: ${support.why}`, { field: 'sizeBytes' });
    }
    return support;
  }

  /** Puts the directory under its own filesystem project (inherited by what is made in it) and limits that project's blocks. */
  private async setQuota(dir: string, quota: { id: number; bytes: number }): Promise<void> {
    const support = await this.requireQuotas();
    const kib = Math.ceil(quota.bytes / 1024);
    const refuse = (tool: string) =>
      new NagayaError('INVALID_INPUT', `node ${this.nodeName} cannot limit a volume's size: ${tool} is not installed there`, {
        field: 'sizeBytes',
      });
    if (support.fsType === 'xfs') {
      const script = ['-c', `project -s -p ${dir} ${quota.id}`, '-c', `limit -p bhard=${kib}k ${quota.id}`];
      await run('xfs_quota', ['-x', ...script, support.mountPoint]).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'ENOENT' ? refuse('xfs_quota') : err;
      });
      return;
    }
    await run('chattr', ['-p', String(quota.id), '+P', dir]).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? refuse('chattr') : err;
    });
    await run('setquota', ['-P', String(quota.id), '0', String(kib), '0', '0', support.mountPoint]).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? refuse('setquota (package quota)') : err;
    });
  }
}

/** Makes a directory only root may enter (or checks one that exists: a directory, not a symlink). */
async function privateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const s = await lstat(dir);
  if (!s.isDirectory()) throw new NagayaError('INTERNAL', `${dir} is not a directory`);
  if ((s.mode & 0o077) !== 0 || s.uid !== 0) {
    await chown(dir, 0, 0);
    await chmod(dir, 0o700);
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}
