import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { NagayaError } from '../errors';
import type { Db } from '../store/db';
import { isMissingProject, projectRefusalOf } from '../store/project-errors';
import { DEFAULT_PROJECT } from '../store/project-store';
import { buildBusyboxImage, extractArchive, type ExtractLimits, type SkippedEntry } from '@nagaya/native';

export const IMAGE_NAME = /^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$/;
const MANIFEST = '.nagaya-image.json';
/** A staging directory of an import: dot, image name, the importing server's pid, a time. */
const STAGING = /^\..+\.import-(\d+)-\d+$/;
/** How much of a refused upload is still read so that the client gets the answer (see LimitedBody). */
const DRAIN_BYTES = 16 * 1024 * 1024;

export interface ImageInfo {
  project: string;
  name: string;
  path: string;
  sizeBytes: number;
  files: number;
  source: string;
  createdAt: string;
  /** Devices and FIFOs the tarball held, not extracted (/dev is a tmpfs in every container); the first 1000. */
  skipped?: SkippedEntry[];
  skippedTotal?: number;
}

/**
 * Images nagaya makes itself (busybox, from Debian's busybox-static) are the default project's,
 * and serve every project too: a new project can launch at once. A project's own image of the
 * same name comes first. Images anyone uploaded stay their project's alone.
 */
const BUILT_IN_SOURCE = 'busybox-static';

/** A project's directory of images: `@` never starts an image name, so no image is mistaken for one. */
const PROJECT_DIR_PREFIX = '@';

/**
 * Image directories under <dataDir>/images: each a root filesystem owned by 0..65535 on disk,
 * shared read-only (idmapped) by every container of the image. The store is root-only (0700):
 * the launcher reaches an image through an idmapped mount it opens as root, and no host user
 * reaches the setuid files images keep for their containers.
 *
 * Images belong to projects. The default project's are at images/<name> (where earlier
 * releases put every image), another project's at images/@<project>/<name>. Postgres records
 * each image (table `image`), so a project's diskBytes quota is kept in the statement that
 * records it; the directory holds the files. A worker needs only the directories.
 */
export class ImageStore {
  readonly root: string;
  /** Images never change once in place (an import renames a finished directory in), so lookups are cached. */
  private readonly known = new Map<string, ImageInfo>();

  constructor(
    dataDir: string,
    private readonly unpackLimits: ExtractLimits,
    private readonly db?: Db,
  ) {
    this.root = join(dataDir, 'images');
  }

  /** The directory that holds a project's images. */
  private projectDir(project: string): string {
    return project === DEFAULT_PROJECT ? this.root : join(this.root, `${PROJECT_DIR_PREFIX}${project}`);
  }

  /**
   * Records in Postgres, for the default project, every image directory of an earlier release
   * (and the busybox image): images made before images had records. Idempotent.
   */
  async adoptUnrecorded(): Promise<void> {
    const db = this.requireDb();
    const names = existsSync(this.root) ? await readdir(this.root) : [];
    for (const name of names.filter((n) => IMAGE_NAME.test(n))) {
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

  private requireDb(): Db {
    if (!this.db) throw new Error("this ImageStore has no database: image records are the API's business");
    return this.db;
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

  /**
   * Returns the directory on this host of the image a container of `project` runs: its project's
   * own, else a built-in one; NOT_FOUND when there is none (INVALID_INPUT for a bad name).
   */
  async path(project: string, name: string): Promise<string> {
    try {
      return (await this.readCached(project, name)).path;
    } catch (err) {
      if (project === DEFAULT_PROJECT || !(err instanceof NagayaError) || err.code !== 'NOT_FOUND') throw err;
      const builtIn = await this.readCached(DEFAULT_PROJECT, name).catch(() => undefined);
      if (builtIn?.source !== BUILT_IN_SOURCE) throw err;
      return builtIn.path;
    }
  }

  /**
   * The image a project's container of that name would run: the project's own, else a built-in
   * one; recorded in Postgres and present here. NOT_FOUND otherwise, also when another project
   * has one of that name.
   */
  async get(project: string, name: string): Promise<ImageInfo> {
    if (!IMAGE_NAME.test(name)) throw new NagayaError('INVALID_INPUT', `invalid image name ${JSON.stringify(name)}`);
    const { rows } = await this.requireDb().query<{ project: string }>(
      `SELECT project FROM image WHERE name = $2 AND (project = $1 OR (project = $3 AND source = $4))
        ORDER BY project = $1 DESC LIMIT 1`,
      [project, name, DEFAULT_PROJECT, BUILT_IN_SOURCE],
    );
    if (!rows[0]) throw new NagayaError('NOT_FOUND', `no image named ${name} in project ${project}`);
    return this.readCached(rows[0].project, name);
  }

  /** What a container's create checks its image against in its own statement (ContainerStore.create's guard). */
  launchGuard(): { builtInProject: string; builtInSource: string } {
    return { builtInProject: DEFAULT_PROJECT, builtInSource: BUILT_IN_SOURCE };
  }

  /** The image of `project` (as a create's guard found it) as this host has it on disk; NOT_FOUND when it is missing here. */
  onDisk(project: string, name: string): Promise<ImageInfo> {
    return this.readCached(project, name);
  }

  private async readCached(project: string, name: string): Promise<ImageInfo> {
    if (!IMAGE_NAME.test(name)) throw new NagayaError('INVALID_INPUT', `invalid image name ${JSON.stringify(name)}`);
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

  /** The images of one project and the built-in ones (every image when no project is given), as recorded. */
  async list(project?: string): Promise<ImageInfo[]> {
    const { rows } = await this.requireDb().query<{ project: string; name: string }>(
      `SELECT project, name FROM image WHERE $1::text IS NULL OR project = $1 OR (project = $2 AND source = $3)
        ORDER BY project, name`,
      [project ?? null, DEFAULT_PROJECT, BUILT_IN_SOURCE],
    );
    const out: ImageInfo[] = [];
    for (const row of rows) {
      try {
        out.push(await this.readCached(row.project, row.name));
      } catch {
        /* recorded, but its directory is on another host or gone */
      }
    }
    return out;
  }

  /**
   * Imports a rootfs tarball (optionally gzipped) as image `name`, streamed: at most
   * `uploadLimitBytes` of request body (PAYLOAD_TOO_LARGE), unpacked by nagaya-extract into a
   * staging directory inside the root-only store within the store's unpack limits, and renamed
   * into place only when complete. A refused archive (INVALID_INPUT or PAYLOAD_TOO_LARGE) leaves
   * nothing behind. The image is recorded (and the project's diskBytes quota checked) before
   * it is renamed into place, and the record taken back if the rename fails.
   */
  async import(project: string, name: string, body: Readable, uploadLimitBytes: number): Promise<ImageInfo> {
    if (!IMAGE_NAME.test(name)) throw new NagayaError('INVALID_INPUT', `invalid image name ${JSON.stringify(name)}`);
    const db = this.requireDb();
    const parent = this.projectDir(project);
    const dir = join(parent, name);
    const taken = await db.query('SELECT 1 FROM image WHERE project = $1 AND name = $2', [project, name]);
    if (taken.rowCount || existsSync(dir)) throw new NagayaError('CONFLICT', `image ${name} already exists in project ${project}`);
    await this.openStore();
    await mkdir(parent, { recursive: true, mode: 0o700 });
    // A dot-name: no image name starts with a dot, so no listing takes it for an image.
    const staging = join(parent, `.${name}.import-${process.pid}-${Date.now()}`); // see STAGING
    const upload = new LimitedBody(body, uploadLimitBytes);
    const result = await extractArchive(Readable.from(upload.chunks()), staging, this.unpackLimits).catch(async (err: unknown) => {
      await upload.discardRest().catch(() => undefined); // a client gone mid-body: nothing to answer
      throw err;
    });
    try {
      if (result.entries === 0) throw new NagayaError('INVALID_INPUT', 'the tarball holds no files');
      await this.writeManifest(name, staging, 'upload', {
        files: result.entries - result.skippedTotal,
        sizeBytes: result.fileBytes,
        skipped: result.skipped,
        skippedTotal: result.skippedTotal,
      });
      await this.record(project, name, { sizeBytes: result.fileBytes, files: result.entries - result.skippedTotal, source: 'upload' });
      await rename(staging, dir).catch(async (err: NodeJS.ErrnoException) => {
        await db.query('DELETE FROM image WHERE project = $1 AND name = $2', [project, name]).catch(() => undefined);
        if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST') throw new NagayaError('CONFLICT', `image ${name} already exists`);
        throw err;
      });
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    return this.get(project, name);
  }

  /** Records an image; its project's trigger refuses one past the diskBytes quota (QUOTA_EXCEEDED). */
  private async record(project: string, name: string, info: { sizeBytes: number; files: number; source: string }): Promise<void> {
    try {
      await this.requireDb().query('INSERT INTO image (project, name, size_bytes, files, source) VALUES ($1, $2, $3, $4, $5)', [
        project,
        name,
        info.sizeBytes,
        info.files,
        info.source,
      ]);
    } catch (err) {
      if ((err as { code?: string }).code === '23505')
        throw new NagayaError('CONFLICT', `image ${name} already exists in project ${project}`);
      if (isMissingProject(err)) throw new NagayaError('NOT_FOUND', `no project named ${project}`, { project });
      throw projectRefusalOf(err) ?? err;
    }
  }

  /** Makes <dataDir>/images root-only (0700): images keep their setuid files, which no host user may reach. */
  private async openStore(): Promise<void> {
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

  private async writeManifest(
    name: string,
    dir: string,
    source: string,
    counts?: { files: number; sizeBytes: number; skipped: SkippedEntry[]; skippedTotal: number },
  ): Promise<void> {
    const manifest = {
      sizeBytes: counts?.sizeBytes ?? (await du(dir)),
      files: counts?.files ?? 0,
      source,
      createdAt: new Date().toISOString(),
      ...(counts?.skippedTotal ? { skipped: counts.skipped, skippedTotal: counts.skippedTotal } : {}),
    };
    // The tarball may hold an entry of that name, even a symlink out of the image: it is removed,
    // and the manifest written under a fresh name (O_EXCL follows no symlink) and renamed over
    // whatever is there (rename replaces a link, never follows it).
    const fresh = join(dir, `${MANIFEST}.${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    await rm(join(dir, MANIFEST), { recursive: true, force: true });
    await writeFile(fresh, `${JSON.stringify({ name, ...manifest }, null, 2)}\n`, { flag: 'wx', mode: 0o644 });
    await rename(fresh, join(dir, MANIFEST));
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

async function du(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += await du(p);
    else if (entry.isFile()) total += (await stat(p)).size;
  }
  return total;
}

/**
 * A request body read through its iterator, failing with PAYLOAD_TOO_LARGE past limit bytes.
 * The iterator is never returned, so a refusal does not destroy the request and its socket,
 * which the error response still needs.
 */
class LimitedBody {
  private readonly iterator: AsyncIterator<Buffer>;
  private received = 0;

  constructor(
    body: Readable,
    private readonly limit: number,
  ) {
    this.iterator = body[Symbol.asyncIterator]();
  }

  async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      const next = await this.iterator.next();
      if (next.done) return;
      this.received += next.value.length;
      if (this.received > this.limit) throw new NagayaError('PAYLOAD_TOO_LARGE', `the image is larger than ${this.limit} bytes`);
      yield next.value;
    }
  }

  /**
   * Reads and drops what the client still sends (up to the limit, and at most DRAIN_BYTES more)
   * before an error is answered: a server that closes a socket with unread data resets it, and
   * the client would see ECONNRESET instead of the answer. Past that the client gets the reset.
   */
  async discardRest(): Promise<void> {
    const stopAt = Math.min(this.received, this.limit) + DRAIN_BYTES;
    while (this.received <= stopAt) {
      const next = await this.iterator.next();
      if (next.done) return;
      this.received += next.value.length;
    }
  }
}
