import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { NagayaError } from '../errors';
import type { Db } from '../store/db';
import { FleetRegistry } from './fleet-registry';
import { readIdentities } from './image-identities';
import { runDefaults } from './image-config';
import { ImageRecords, type ImageFormat, type ImageRecord } from './image-records';
import { importLayoutDir } from './import-layout';
import { LimitedBody } from './limited-body';
import { projectRefusalOf } from '../store/project-errors';
import { DEFAULT_PROJECT } from '../store/project-store';
import {
  buildBusyboxImage,
  importImage,
  listLayers,
  removeBlob,
  removeLayer,
  type ExtractLimits,
  type ImportedImage,
  type SkippedEntry,
} from '@nagaya/native';

export const IMAGE_NAME = /^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$/;
const MANIFEST = '.nagaya-image.json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
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
  private readonly records: ImageRecords | undefined;

  /** The node's content-addressed layers: `<root>/.oci/layers/sha256/<hex>` (a dot-name: never an image's). */
  readonly ociStore: string;
  private readonly registry: FleetRegistry | undefined;
  /** Fetches of an image's layers under way on this node, by manifest digest: concurrent launches share one. */
  private readonly fetches = new Map<string, Promise<void>>();

  constructor(
    dataDir: string,
    private readonly unpackLimits: ExtractLimits,
    private readonly db?: Db,
    private readonly fleet: { node?: string; registryUrl?: string; maxImageBytes?: number } = {},
  ) {
    this.root = join(dataDir, 'images');
    this.ociStore = join(this.root, '.oci');
    this.records = db && new ImageRecords(db, { project: DEFAULT_PROJECT, source: BUILT_IN_SOURCE });
    this.registry = fleet.registryUrl ? new FleetRegistry(fleet.registryUrl) : undefined;
  }

  /** A layer's directory in this node's store. */
  layerPath(diffId: string): string {
    return join(this.ociStore, 'layers', 'sha256', diffId.slice('sha256:'.length));
  }

  /** An OCI image's layer dirs, topmost first; fetched from the fleet's registry first when this node lacks any. */
  private async ociLayers(image: ImageRecord): Promise<string[]> {
    const dirs = image.layers.map((d) => this.layerPath(d));
    if (!dirs.every((d) => existsSync(d))) {
      const digest = image.digest!;
      let fetch = this.fetches.get(digest);
      if (!fetch) {
        fetch = this.fetchLayers(image).finally(() => this.fetches.delete(digest));
        this.fetches.set(digest, fetch);
      }
      await fetch;
    }
    return dirs.reverse();
  }

  /**
   * Pulls an image by digest from the fleet's registry into a layout in the store, imports it
   * (its layers unpacked, verified against their diff_ids), and records that this node holds them.
   */
  private async fetchLayers(image: ImageRecord): Promise<void> {
    const where = `; the nodes that hold it: ${image.nodes.join(', ') || 'none'}`;
    if (!this.registry) {
      throw new NagayaError(
        'IMAGE_UNAVAILABLE',
        `image ${image.name} of project ${image.project} is not on this node and the fleet has no registry (NAGAYA_REGISTRY_URL)${where}`,
        {
          reason: 'not-on-node',
        },
      );
    }
    const layout = join(this.ociStore, 'pulls', image.digest!.slice('sha256:'.length));
    await mkdir(layout, { recursive: true, mode: 0o700 });
    try {
      await this.registry.pull(image.project, image.name, image.digest!, layout, this.fleet.maxImageBytes ?? Number.MAX_SAFE_INTEGER);
      const imported = await importLayoutDir(layout, this.ociStore, this.unpackLimits, this.fleet.maxImageBytes);
      const want = new Set(image.layers);
      if (imported.layers.length !== image.layers.length || !imported.layers.every((l) => want.has(l.diffId))) {
        throw new NagayaError(
          'IMAGE_UNAVAILABLE',
          `the registry's ${image.digest} does not have the layers recorded for image ${image.name}`,
          {
            reason: 'digest-mismatch',
          },
        );
      }
      if (this.fleet.node) await this.records!.holds(this.fleet.node, image.layers);
      await rm(layout, { recursive: true, force: true });
    } catch (err) {
      // a broken-off download stays for the next try to resume; anything else starts afresh
      if (!(err instanceof NagayaError && (err.details as { reason?: string } | undefined)?.reason === 'unreachable')) {
        await rm(layout, { recursive: true, force: true });
      }
      if (err instanceof NagayaError) throw err;
      throw new NagayaError('IMAGE_UNAVAILABLE', `image ${image.name} could not be fetched: ${(err as Error).message}`, {
        reason: 'import-failed',
      });
    }
  }

  /** The image a container of `project` named `name` runs (its project's own, else a built-in one), as recorded. */
  async visible(project: string, name: string): Promise<ImageRecord | undefined> {
    if (!this.records) throw new Error("this ImageStore has no database: image records are the API's business");
    return this.records.visible(project, name);
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

  private requireRecords(): ImageRecords {
    if (!this.records) throw new Error("this ImageStore has no database: image records are the API's business");
    return this.records;
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
   * The layer directories a container of `project` launches from, topmost first: a directory
   * image is its one directory. IMAGE_UNAVAILABLE when this node cannot have it.
   */
  async layersForLaunch(project: string, name: string): Promise<string[]> {
    const image = await this.visible(project, name);
    if (!image) throw new NagayaError('IMAGE_UNAVAILABLE', `no image named ${name} in project ${project}`, { reason: 'not-found' });
    if (image.format !== 'directory') return this.ociLayers(image);
    const dir = await this.readCached(image.project, name).catch((err: unknown) => {
      if (!(err instanceof NagayaError && err.code === 'NOT_FOUND')) throw err;
      throw new NagayaError('IMAGE_UNAVAILABLE', `image ${name} of project ${image.project} is a directory this node does not have`, {
        reason: 'not-on-node',
      });
    });
    return [dir.path];
  }

  /** What a container's create checks its image against in its own statement (ContainerStore.create's guard). */
  launchGuard(): { builtInProject: string; builtInSource: string } {
    return { builtInProject: DEFAULT_PROJECT, builtInSource: BUILT_IN_SOURCE };
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

  /**
   * Deletes a project's image (CONFLICT while a container of the project names it; a built-in
   * image is the default project's and only its admin could name it, and it is refused too).
   * Layers no image uses any more are removed from this node's store at once, and from other
   * nodes' by their reconcilers.
   */
  async delete(project: string, name: string): Promise<{ removedLayers: string[] }> {
    const records = this.requireRecords();
    const image = await records.visible(project, name);
    if (image?.project === project && image.source === BUILT_IN_SOURCE) {
      throw new NagayaError('CONFLICT', `image ${name} is built in: nagaya makes it on every node`);
    }
    const { unusedLayers } = await records.delete(project, name);
    const removed = await this.removeLayers(unusedLayers);
    return { removedLayers: removed };
  }

  /** Removes layers from this node's store and forgets that it held them; those still in use elsewhere are kept. */
  async removeLayers(diffIds: string[]): Promise<string[]> {
    const removed: string[] = [];
    for (const diffId of diffIds) {
      await removeLayer(this.ociStore, diffId);
      removed.push(diffId);
    }
    if (removed.length && this.fleet.node) await this.requireRecords().released(this.fleet.node, removed);
    return removed;
  }

  /**
   * The reconciler's pass over this node's layers: removes those no image uses (deleted on
   * another node, or left by an import that failed to record; only once they have been in place
   * for `graceMs`, since an import renames its layers in before it records them), and makes
   * node_layer say exactly which of the used ones this node holds.
   */
  async reconcileLayers(graceMs = 10 * 60_000): Promise<{ removed: number; recorded: number; forgotten: number }> {
    const records = this.requireRecords();
    const node = this.fleet.node;
    const [present, used, held] = await Promise.all([
      listLayers(this.ociStore),
      records.usedLayers(),
      node ? records.heldBy(node) : new Set<string>(),
    ]);
    const unused: string[] = [];
    for (const layer of present) {
      if (used.has(layer.diffId)) continue;
      const placedAt = await stat(layer.dir).then(
        (s) => s.ctimeMs,
        () => Date.now(),
      );
      if (Date.now() - placedAt >= graceMs) unused.push(layer.diffId);
    }
    const removed = await this.removeLayers(unused);
    const here = new Set(present.map((l) => l.diffId).filter((d) => used.has(d)));
    const missing = [...held].filter((d) => !here.has(d));
    const unrecorded = [...here].filter((d) => !held.has(d));
    if (node && missing.length) await records.released(node, missing);
    if (node && unrecorded.length) await records.holds(node, unrecorded);
    return { removed: removed.length, recorded: unrecorded.length, forgotten: missing.length };
  }

  /** The layers some recorded image uses. */
  async usedLayers(): Promise<Set<string>> {
    return this.requireRecords().usedLayers();
  }

  /** The images of one project and the built-in ones (every image when no project is given), as recorded. */
  async list(project?: string): Promise<ImageRecord[]> {
    return this.requireRecords().list(project);
  }

  /**
   * Imports an image archive as image `name` of `project`: an OCI image layout, a `docker save`
   * (legacy or Docker 25's), or a rootfs tarball (one layer); tar, gzip or zstd. Streamed: at most
   * `uploadLimitBytes` of request body (PAYLOAD_TOO_LARGE), each layer verified against its digest
   * and unpacked by nagaya-extract into this node's layer store within the store's limits (a layer
   * the store holds already is verified, not unpacked again). A refused archive leaves nothing
   * behind. Recording the image checks the project's diskBytes quota; then it is pushed to the
   * fleet's registry, when there is one, so that every node can fetch it.
   */
  async import(project: string, name: string, body: Readable, uploadLimitBytes: number): Promise<ImageRecord> {
    await this.refuseTaken(project, name);
    await this.openStore();
    const upload = new LimitedBody(body, uploadLimitBytes);
    const imported = await importImage(Readable.from(upload.chunks()), this.ociStore, {
      maxArchiveBytes: this.unpackLimits.maxBytes,
      layerLimits: this.unpackLimits,
      // the compressed blobs, verified, for the push to the fleet's registry
      keepBlobs: this.registry !== undefined,
    }).catch(async (err: unknown) => {
      await upload.discardRest().catch(() => undefined); // a client gone mid-body: nothing to answer
      throw err;
    });
    return this.recordImported(project, name, imported, { format: imported.format, reference: null, source: 'upload' });
  }

  /** CONFLICT when a project has an image of that name already (checked again, atomically, when the image is recorded). */
  async refuseTaken(project: string, name: string): Promise<void> {
    const taken = await this.requireDb().query('SELECT 1 FROM image WHERE project = $1 AND name = $2', [project, name]);
    if (taken.rowCount) throw new NagayaError('CONFLICT', `image ${name} already exists in project ${project}`);
  }

  /** Whether imports must keep their compressed blobs (importImage's keepBlobs): they are pushed to the fleet's registry. */
  get pushesToRegistry(): boolean {
    return this.registry !== undefined;
  }

  /** What an import may unpack (the store's limits), for imports made outside this class (a pull's). */
  get limits(): ExtractLimits {
    return this.unpackLimits;
  }

  /**
   * Records an image just imported into this node's store (an upload's or a pull's): its run
   * defaults, its layers and this node as their holder, within the project's diskBytes quota.
   * Then it is pushed to the fleet's registry, when there is one, so that every node can fetch
   * it; a push that fails takes the record back (and layers no other image uses). The blobs an
   * import kept for the push are removed either way: the registry holds them now, or the image
   * is gone.
   */
  async recordImported(
    project: string,
    name: string,
    imported: ImportedImage,
    origin: { format: Exclude<ImageFormat, 'directory'>; reference: string | null; source: string },
  ): Promise<ImageRecord> {
    const records = this.requireRecords();
    try {
      const { passwd, groups } = await readIdentities(imported.layers.map((l) => l.dir).reverse());
      await records.insert({
        project,
        name,
        format: origin.format,
        digest: imported.manifestDigest,
        config: { ...runDefaults(imported.config), passwd, groups },
        layers: imported.layers.map((l) => ({ diffId: l.diffId, sizeBytes: l.size })),
        reference: origin.reference,
        files: 0,
        source: origin.source,
        node: this.fleet.node ?? 'local',
      });
      if (this.registry) await this.publish(project, name, imported);
    } finally {
      if (this.registry) await this.removeKeptBlobs(imported);
    }
    return (await records.visible(project, name))!;
  }

  /** Pushes an imported image to the fleet's registry; a push that fails takes the import back. */
  private async publish(project: string, name: string, imported: ImportedImage): Promise<void> {
    const manifest = Buffer.from(imported.manifestJson, 'utf8');
    const doc = JSON.parse(imported.manifestJson) as { mediaType?: string };
    try {
      await this.registry!.push(project, name, join(this.ociStore, 'blobs'), {
        mediaType: doc.mediaType ?? OCI_MANIFEST,
        digest: imported.manifestDigest,
        bytes: manifest,
      });
    } catch (err) {
      const { unusedLayers } = await this.requireRecords()
        .delete(project, name)
        .catch(() => ({ unusedLayers: [] as string[] }));
      await this.removeLayers(unusedLayers).catch(() => undefined);
      throw err;
    }
  }

  /** Removes the blobs an import kept for the push (the manifest, the config, the layers as they were compressed). */
  private async removeKeptBlobs(imported: ImportedImage): Promise<void> {
    const doc = JSON.parse(imported.manifestJson) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const blobs = [doc.config.digest, ...doc.layers.map((l) => l.digest), imported.manifestDigest];
    for (const digest of blobs) await removeBlob(this.ociStore, digest).catch(() => undefined);
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
