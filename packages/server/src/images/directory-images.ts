import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buildBusyboxImage } from '@nagaya/native';
import { NagayaError } from '../errors';
import type { Db } from '../store/db';
import { projectRefusalOf } from '../store/project-errors';
import { DEFAULT_PROJECT } from '../store/project-store';

/** A directory image's name: an image name without a tag (it is a directory's name too). */
const DIRECTORY_IMAGE_NAME = /^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$/;
const MANIFEST = '.nagaya-image.json';
/** A staging directory of an import: dot, image name, the importing server's pid, a time. */
const STAGING = /^\..+\.import-(\d+)-\d+$/;

export interface ImageInfo {
  project: string;
  name: string;
  path: string;
  sizeBytes: number;
  files: number;
  source: string;
  createdAt: string;
}

/**
 * Images nagaya makes itself (busybox, from Debian's busybox-static) are the default project's,
 * and serve every project too: a new project can launch at once. A project's own image of the
 * same name comes first. Images anyone uploaded stay their project's alone.
 */
export const BUILT_IN_SOURCE = 'busybox-static';

/** A project's directory of images: `@` never starts an image name, so no image is mistaken for one. */
const PROJECT_DIR_PREFIX = '@';

/**
 * Images that are one directory under <dataDir>/images (not layers): the built-in busybox, and
 * rootfs uploads of releases before OCI images. Each is a root filesystem owned by 0..65535 on
 * disk, shared read-only (idmapped) by every container of the image. The default project's are
 * at images/<name>, another project's at images/@<project>/<name>. The store is root-only
 * (0700): the launcher reaches an image through an idmapped mount it opens as root, and no host
 * user reaches the setuid files images keep for their containers.
 */
export class DirectoryImages {
  /** Images never change once in place, so lookups are cached. */
  private readonly known = new Map<string, ImageInfo>();

  constructor(
    readonly root: string,
    private readonly db?: Db,
  ) {}

  /** The directory that holds a project's images. */
  private projectDir(project: string): string {
    return project === DEFAULT_PROJECT ? this.root : join(this.root, `${PROJECT_DIR_PREFIX}${project}`);
  }

  /**
   * Records in Postgres, for the default project, every image directory of an earlier release
   * (and the busybox image): images made before images had records. Idempotent.
   */
  async adoptUnrecorded(): Promise<void> {
    if (!this.db) throw new Error("these directory images have no database: image records are the API's business");
    const db = this.db;
    const names = existsSync(this.root) ? await readdir(this.root) : [];
    for (const name of names.filter((n) => DIRECTORY_IMAGE_NAME.test(n))) {
      const info = await this.readDisk(DEFAULT_PROJECT, name).catch(() => undefined);
      if (!info) continue;
      await db
        .query(
          `INSERT INTO image (project, name, size_bytes, files, source, created_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (project, name) DO NOTHING`,
          [DEFAULT_PROJECT, name, info.sizeBytes, info.files, info.source, info.createdAt],
        )
        .catch((err: unknown) => {
          // a default project whose diskBytes quota is below what it had: the image stays usable on disk
          if (!projectRefusalOf(err)) throw err;
        });
    }
  }

  /**
   * Builds the busybox image from Debian's busybox-static if it is missing (at start, so it also
   * removes what imports of a killed server left behind).
   */
  async ensureBusybox(): Promise<ImageInfo> {
    const dir = join(this.root, 'busybox');
    await this.openStore();
    await this.removeAbandonedStaging();
    buildBusyboxImage(dir);
    if (!existsSync(join(dir, MANIFEST))) {
      await this.writeManifest('busybox', dir, BUILT_IN_SOURCE);
    }
    return this.readCached(DEFAULT_PROJECT, 'busybox');
  }

  /** The image directory of a project's image on this host (cached: images never change once in place); NOT_FOUND when absent. */
  async readCached(project: string, name: string): Promise<ImageInfo> {
    if (!DIRECTORY_IMAGE_NAME.test(name)) throw new NagayaError('INVALID_INPUT', `invalid image name ${JSON.stringify(name)}`);
    const key = `${project}/${name}`;
    const cached = this.known.get(key);
    if (cached && existsSync(cached.path)) return cached;
    const info = await this.readDisk(project, name);
    this.known.set(key, info);
    return info;
  }

  private async readDisk(project: string, name: string): Promise<ImageInfo> {
    const dir = join(this.projectDir(project), name);
    try {
      const manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Omit<ImageInfo, 'name' | 'path' | 'project'>;
      return { ...manifest, project, name, path: dir };
    } catch {
      if (existsSync(join(dir, 'bin'))) {
        return { project, name, path: dir, sizeBytes: 0, files: 0, source: 'unknown', createdAt: new Date(0).toISOString() };
      }
      throw new NagayaError('NOT_FOUND', `no image named ${name} in project ${project}`);
    }
  }

  /** Makes <dataDir>/images root-only (0700): images keep their setuid files, which no host user may reach. */
  async openStore(): Promise<void> {
    await mkdir(dirname(this.root), { recursive: true, mode: 0o711 });
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700); // a store made before it was root-only was 0711
  }

  /** Removes the staging directories of imports whose server process is gone (killed mid-import). */
  private async removeAbandonedStaging(): Promise<void> {
    const projectDirs = (await readdir(this.root)).filter((e) => e.startsWith(PROJECT_DIR_PREFIX)).map((e) => join(this.root, e));
    for (const dir of [this.root, ...projectDirs]) {
      for (const entry of await readdir(dir)) {
        const pid = Number(STAGING.exec(entry)?.[1]);
        if (pid && !isRunning(pid)) await rm(join(dir, entry), { recursive: true, force: true });
      }
    }
  }

  private async writeManifest(name: string, dir: string, source: string): Promise<void> {
    const manifest = { sizeBytes: await du(dir), files: 0, source, createdAt: new Date().toISOString() };
    // The manifest is written under a fresh name (O_EXCL follows no symlink) and renamed over
    // whatever is there: rename replaces a file or a link, never follows it, and a server starting
    // beside this one (the API and a worker of one host) reads its manifest or this one, whole.
    // Only a directory of that name (an image may hold anything) is removed first.
    const fresh = join(dir, `${MANIFEST}.${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    await writeFile(fresh, `${JSON.stringify({ name, ...manifest }, null, 2)}\n`, { flag: 'wx', mode: 0o644 });
    try {
      await rename(fresh, join(dir, MANIFEST));
    } catch (err) {
      if (!['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      await rm(join(dir, MANIFEST), { recursive: true, force: true });
      await rename(fresh, join(dir, MANIFEST));
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The bytes of an image's files. The API and a worker on one host both write the busybox
 * manifest when they start: a file that goes while this walks (the other's manifest under its
 * fresh name, renamed) counts nothing instead of failing the start with ENOENT.
 */
async function du(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(ignoreGone([]))) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += await du(p);
    else if (entry.isFile()) total += (await stat(p).catch(ignoreGone({ size: 0 }))).size;
  }
  return total;
}

function ignoreGone<T>(value: T): (err: unknown) => T {
  return (err) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return value;
    throw err;
  };
}
