import { createGunzip } from 'node:zlib';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createWriteStream, existsSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { NagayaError } from '@nagaya/allocator';
import { buildBusyboxImage } from '@nagaya/native';
import { extract, type Header as Headers } from 'tar-stream';

export const IMAGE_NAME = /^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$/;
const MANIFEST = '.nagaya-image.json';

export interface ImageInfo {
  name: string;
  path: string;
  sizeBytes: number;
  files: number;
  source: string;
  createdAt: string;
}

/**
 * Image directories under <dataDir>/images: each a root filesystem owned by 0..65535 on disk,
 * shared read-only (idmapped) by every container of the image.
 */
export class ImageStore {
  readonly root: string;
  /** Images never change once in place (an import renames a finished directory in), so lookups are cached. */
  private readonly known = new Map<string, ImageInfo>();

  constructor(dataDir: string) {
    this.root = join(dataDir, 'images');
  }

  /** Builds the busybox image from Debian's busybox-static if it is missing. */
  async ensureBusybox(): Promise<ImageInfo> {
    const dir = join(this.root, 'busybox');
    await mkdir(this.root, { recursive: true, mode: 0o711 });
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
   * Imports a rootfs tarball (optionally gzipped) as image `name`, streamed, refusing more than
   * `limitBytes` of input, any entry that would land outside the image (.., absolute paths,
   * links pointing out through a path), devices, and owners outside 0..65535.
   */
  async import(name: string, body: Readable, limitBytes: number): Promise<ImageInfo> {
    if (!IMAGE_NAME.test(name)) throw new NagayaError('INVALID_INPUT', `invalid image name ${JSON.stringify(name)}`);
    const dir = join(this.root, name);
    if (existsSync(dir)) throw new NagayaError('CONFLICT', `image ${name} already exists`);
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    const staging = `${dir}.import-${process.pid}-${Date.now()}`;
    await mkdir(staging, { mode: 0o755 });
    let files = 0;
    let sizeBytes = 0;
    let received = 0;
    const limiter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        received += chunk.length;
        if (received > limitBytes) done(new NagayaError('PAYLOAD_TOO_LARGE', `the image is larger than ${limitBytes} bytes`));
        else done(null, chunk);
      },
    });
    const untar = extract();
    untar.on('entry', (header, stream, next) => {
      this.writeEntry(staging, header, stream as unknown as Readable).then(
        (bytes) => {
          files++;
          sizeBytes += bytes;
          next();
        },
        (err: Error) => next(err),
      );
    });
    const gunzipIfNeeded = new Transform({
      transform(chunk: Buffer, _enc, done) {
        done(null, chunk);
      },
    });
    try {
      const head = await peek(body);
      const gz = head.source.length >= 2 && head.source[0] === 0x1f && head.source[1] === 0x8b;
      await pipeline(head.stream, limiter, gz ? createGunzip() : gunzipIfNeeded, untar);
      if (files === 0) throw new NagayaError('INVALID_INPUT', 'the tarball holds no files');
      await this.writeManifest(name, staging, 'upload', { files, sizeBytes });
      await rename(staging, dir);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      if (err instanceof NagayaError) throw err;
      throw new NagayaError('INVALID_INPUT', `cannot read the tarball: ${(err as Error).message}`);
    }
    return this.get(name);
  }

  private async writeEntry(root: string, header: Headers, stream: Readable): Promise<number> {
    const target = safeJoin(root, header.name);
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    if (uid > 65535 || gid > 65535 || uid < 0 || gid < 0) {
      stream.resume();
      throw new NagayaError('INVALID_INPUT', `${header.name}: owner ${uid}:${gid} is outside a container's 0..65535`);
    }
    const mode = (header.mode ?? 0o644) & 0o7777;
    let bytes = 0;
    if (target === root) {
      stream.resume();
      return 0;
    }
    await assertNoSymlinkOnPath(root, dirname(target));
    await mkdir(dirname(target), { recursive: true });
    const { chown, chmod, symlink, link, lutimes } = await import('node:fs/promises');
    switch (header.type) {
      case 'directory':
        await mkdir(target, { recursive: true });
        stream.resume();
        break;
      case 'file':
      case 'contiguous-file': {
        await rm(target, { force: true, recursive: false }).catch(() => undefined);
        await pipeline(stream, new Transform({ transform(c: Buffer, _e, d) { bytes += c.length; d(null, c); } }), createWriteStream(target, { mode }));
        break;
      }
      case 'symlink':
        stream.resume();
        await rm(target, { force: true }).catch(() => undefined);
        await symlink(header.linkname ?? '', target); // a symlink is resolved inside the container's root, never here
        await chown(target, uid, gid).catch(() => undefined);
        return 0;
      case 'link': {
        stream.resume();
        const source = safeJoin(root, header.linkname ?? '');
        await link(source, target);
        return 0;
      }
      default:
        stream.resume();
        return 0; // devices, fifos: /dev is a tmpfs in every container
    }
    const { lchown } = await import('node:fs/promises');
    await lchown(target, uid, gid);
    await chmod(target, mode);
    if (header.mtime) await lutimes(target, header.mtime, header.mtime).catch(() => undefined);
    return bytes;
  }

  private async writeManifest(name: string, dir: string, source: string, counts?: { files: number; sizeBytes: number }): Promise<void> {
    const manifest = { sizeBytes: counts?.sizeBytes ?? (await du(dir)), files: counts?.files ?? 0, source, createdAt: new Date().toISOString() };
    await writeFile(join(dir, MANIFEST), JSON.stringify({ name, ...manifest }, null, 2) + '\n');
  }
}

/** Joins an archive path under root, refusing anything that would land outside it. */
export function safeJoin(root: string, entry: string): string {
  const cleaned = normalize(`/${entry}`).replace(/^\/+/, '');
  if (entry.split(/[\\/]/).includes('..')) {
    throw new NagayaError('INVALID_INPUT', `${entry}: path leaves the image directory`);
  }
  const target = join(root, cleaned);
  if (target !== root && !target.startsWith(root + sep)) {
    throw new NagayaError('INVALID_INPUT', `${entry}: path leaves the image directory`);
  }
  return target;
}

/**
 * Refuses a path whose directories include a symlink already extracted: writing through it
 * ("a" -> /etc, then "a/passwd") would land outside the image on the host.
 */
async function assertNoSymlinkOnPath(root: string, dir: string): Promise<void> {
  const { lstat } = await import('node:fs/promises');
  let current = root;
  for (const part of dir.slice(root.length).split(sep).filter(Boolean)) {
    current = join(current, part);
    try {
      if ((await lstat(current)).isSymbolicLink()) {
        throw new NagayaError('INVALID_INPUT', `${current.slice(root.length + 1)}: an entry would be written through a symlink`);
      }
    } catch (err) {
      if (err instanceof NagayaError) throw err;
      return; // does not exist yet: nothing below it can be a link
    }
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

/** Reads the first chunk of a stream (to sniff gzip) and returns a stream that still yields it. */
async function peek(body: Readable): Promise<{ source: Buffer; stream: Readable }> {
  const iterator = body[Symbol.asyncIterator]();
  const first = await iterator.next();
  const head = first.done ? Buffer.alloc(0) : Buffer.from(first.value as Buffer);
  async function* rest() {
    if (head.length) yield head;
    for (;;) {
      const n = await iterator.next();
      if (n.done) return;
      yield n.value as Buffer;
    }
  }
  return { source: head, stream: Readable.from(rest()) };
}
