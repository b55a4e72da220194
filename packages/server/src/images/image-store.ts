import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { NagayaError } from '../errors';
import { buildBusyboxImage, extractArchive, type ExtractLimits, type SkippedEntry } from '@nagaya/native';

export const IMAGE_NAME = /^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$/;
const MANIFEST = '.nagaya-image.json';
/** A staging directory of an import: dot, image name, the importing server's pid, a time. */
const STAGING = /^\..+\.import-(\d+)-\d+$/;
/** How much of a refused upload is still read so that the client gets the answer (see LimitedBody). */
const DRAIN_BYTES = 16 * 1024 * 1024;

export interface ImageInfo {
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
 * Image directories under <dataDir>/images: each a root filesystem owned by 0..65535 on disk,
 * shared read-only (idmapped) by every container of the image. The store is root-only (0700):
 * the launcher reaches an image through an idmapped mount it opens as root, and no host user
 * reaches the setuid files images keep for their containers.
 */
export class ImageStore {
  readonly root: string;
  /** Images never change once in place (an import renames a finished directory in), so lookups are cached. */
  private readonly known = new Map<string, ImageInfo>();

  constructor(
    dataDir: string,
    private readonly unpackLimits: ExtractLimits,
  ) {
    this.root = join(dataDir, 'images');
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
      await this.writeManifest('busybox', dir, 'busybox-static');
    }
    return this.get('busybox');
  }

  /** Returns the directory of an image; NOT_FOUND when there is none (INVALID_INPUT for a bad name). */
  async path(name: string): Promise<string> {
    return (await this.get(name)).path;
  }

  async get(name: string): Promise<ImageInfo> {
    if (!IMAGE_NAME.test(name)) throw new NagayaError('INVALID_INPUT', `invalid image name ${JSON.stringify(name)}`);
    const cached = this.known.get(name);
    if (cached && existsSync(cached.path)) return cached;
    const info = await this.read(name);
    this.known.set(name, info);
    return info;
  }

  private async read(name: string): Promise<ImageInfo> {
    const dir = join(this.root, name);
    try {
      const manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Omit<ImageInfo, 'name' | 'path'>;
      return { name, path: dir, ...manifest };
    } catch {
      if (existsSync(join(dir, 'bin'))) {
        return { name, path: dir, sizeBytes: 0, files: 0, source: 'unknown', createdAt: new Date(0).toISOString() };
      }
      throw new NagayaError('NOT_FOUND', `no image named ${name}`);
    }
  }

  async list(): Promise<ImageInfo[]> {
    const names = existsSync(this.root) ? await readdir(this.root) : [];
    const out: ImageInfo[] = [];
    for (const name of names.filter((n) => IMAGE_NAME.test(n)).sort()) {
      try {
        out.push(await this.get(name));
      } catch {
        /* a half-built directory is not an image */
      }
    }
    return out;
  }

  /**
   * Imports a rootfs tarball (optionally gzipped) as image `name`, streamed: at most
   * `uploadLimitBytes` of request body (PAYLOAD_TOO_LARGE), unpacked by nagaya-extract into a
   * staging directory inside the root-only store within the store's unpack limits, and renamed
   * into place only when complete. A refused archive (INVALID_INPUT or PAYLOAD_TOO_LARGE) leaves
   * nothing behind.
   */
  async import(name: string, body: Readable, uploadLimitBytes: number): Promise<ImageInfo> {
    if (!IMAGE_NAME.test(name)) throw new NagayaError('INVALID_INPUT', `invalid image name ${JSON.stringify(name)}`);
    const dir = join(this.root, name);
    if (existsSync(dir)) throw new NagayaError('CONFLICT', `image ${name} already exists`);
    await this.openStore();
    // A dot-name: no image name starts with a dot, so list() never takes it for an image.
    const staging = join(this.root, `.${name}.import-${process.pid}-${Date.now()}`); // see STAGING
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
      await rename(staging, dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST') throw new NagayaError('CONFLICT', `image ${name} already exists`);
        throw err;
      });
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    return this.get(name);
  }

  /** Makes <dataDir>/images root-only (0700): images keep their setuid files, which no host user may reach. */
  private async openStore(): Promise<void> {
    await mkdir(dirname(this.root), { recursive: true, mode: 0o711 });
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700); // a store made before it was root-only was 0711
  }

  /** Removes the staging directories of imports whose server process is gone (killed mid-import). */
  private async removeAbandonedStaging(): Promise<void> {
    for (const entry of await readdir(this.root)) {
      const pid = Number(STAGING.exec(entry)?.[1]);
      if (pid && !isRunning(pid)) await rm(join(this.root, entry), { recursive: true, force: true });
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
