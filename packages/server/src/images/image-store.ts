import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { NagayaError } from '../errors';
import type { Db } from '../store/db';
import type { LaunchImage } from '../store/container-store';
import { BUILT_IN_SOURCE, DirectoryImages, type ImageInfo } from './directory-images';
import { FleetRegistry } from './fleet-registry';
import { readIdentities } from './image-identities';
import { runDefaults } from './image-config';
import { ImageRecords, type ImageFormat, type ImageRecord } from './image-records';
import { type ImageKey, NodeLayers } from './node-layers';
import { LimitedBody } from './limited-body';
import { DEFAULT_PROJECT } from '../store/project-store';
import { importImage, removeBlob, type ExtractLimits, type ImportedImage } from '@nagaya/native';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/**
 * A node's images. Postgres records each (table `image`: its layers by diff_id, its config, the
 * nodes that hold it), so a project's diskBytes quota is kept in the statement that records it.
 * OCI images (every import and pull) are layers in the node's content-addressed store under
 * <dataDir>/images/.oci, unpacked once and shared by every image that stacks them; a node
 * lacking one fetches it by digest from the fleet's registry. Images made before (busybox,
 * uploads of earlier releases) are one directory each (DirectoryImages).
 */
export class ImageStore {
  readonly root: string;
  private readonly records: ImageRecords | undefined;
  private readonly directories: DirectoryImages;

  /** The node's content-addressed layers: `<root>/.oci/layers/sha256/<hex>` (a dot-name: never an image's). */
  readonly ociStore: string;
  private readonly registry: FleetRegistry | undefined;
  private readonly layers: NodeLayers;

  constructor(
    dataDir: string,
    private readonly unpackLimits: ExtractLimits,
    private readonly db?: Db,
    private readonly fleet: { node?: string; registryUrl?: string; maxImageBytes?: number; warn?: (message: string) => void } = {},
  ) {
    this.root = join(dataDir, 'images');
    this.ociStore = join(this.root, '.oci');
    this.directories = new DirectoryImages(this.root, db);
    this.records = db && new ImageRecords(db, { project: DEFAULT_PROJECT, source: BUILT_IN_SOURCE });
    this.registry = fleet.registryUrl ? new FleetRegistry(fleet.registryUrl) : undefined;
    this.layers = new NodeLayers(this.ociStore, unpackLimits, this.records, this.registry, fleet, (image, refusal) =>
      this.takeBack(image, refusal),
    );
  }

  /**
   * Builds the busybox image from Debian's busybox-static if it is missing (at start, so it also
   * removes what imports of a killed server left behind).
   */
  ensureBusybox(): Promise<ImageInfo> {
    return this.directories.ensureBusybox();
  }

  /** Records the directory images of earlier releases (see DirectoryImages.adoptUnrecorded). */
  adoptUnrecorded(): Promise<void> {
    return this.directories.adoptUnrecorded();
  }

  /** A layer's directory in this node's store. */
  layerPath(diffId: string): string {
    return this.layers.layerPath(diffId);
  }

  /** The image a container of `project` named `name` runs (its project's own, else a built-in one), as recorded. */
  async visible(project: string, name: string): Promise<ImageRecord | undefined> {
    if (!this.records) throw new Error("this ImageStore has no database: image records are the API's business");
    return this.records.visible(project, name);
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
   * The layer directories a container of `project` launches from, topmost first: a directory
   * image is its one directory. IMAGE_UNAVAILABLE when this node cannot have it.
   */
  async layersForLaunch(project: string, name: string, known?: LaunchImage): Promise<string[]> {
    // `known`: the claim read the image already; the full record is read only when this node has
    // not yet seen the image's blobs checked and its layers here (then they are made so)
    if (known?.format === 'directory') return [await this.directoryLayer(known.project, name)];
    if (known && known.layers.length > 0 && this.layers.isReady(known.digest)) {
      const dirs = known.layers.map((d) => this.layerPath(d));
      if (dirs.every((d) => existsSync(d))) return dirs.reverse();
    }
    const image = await this.visible(project, name);
    if (!image) throw new NagayaError('IMAGE_UNAVAILABLE', `no image named ${name} in project ${project}`, { reason: 'not-found' });
    if (image.format !== 'directory') return this.layers.dirsFor(image);
    return [await this.directoryLayer(image.project, name)];
  }

  private async directoryLayer(project: string, name: string): Promise<string> {
    const dir = await this.directories.readCached(project, name).catch((err: unknown) => {
      if (!(err instanceof NagayaError && err.code === 'NOT_FOUND')) throw err;
      throw new NagayaError('IMAGE_UNAVAILABLE', `image ${name} of project ${project} is a directory this node does not have`, {
        reason: 'not-on-node',
      });
    });
    return dir.path;
  }

  /** What a container's create checks its image against in its own statement (ContainerStore.create's guard). */
  launchGuard(): { builtInProject: string; builtInSource: string } {
    return { builtInProject: DEFAULT_PROJECT, builtInSource: BUILT_IN_SOURCE };
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

  /**
   * Takes back an image that has a layer blob a node refused (not its diff_id, found after its
   * import answered, when the blob unpacked): as an eager import would have refused it, nothing of
   * it stays. Only that image (its digest), and never one a container names (none can: every
   * create of it waits until its blobs are checked). The fleet's registry keeps what was pushed,
   * as it does for any deleted image; no record names it any more.
   */
  private async takeBack(image: ImageKey, refusal: NagayaError): Promise<void> {
    const { unusedLayers } = await this.requireRecords().delete(image.project, image.name, image.digest!);
    await this.removeLayers(unusedLayers);
    this.fleet.warn?.(`image ${image.name} of project ${image.project} was taken back: ${refusal.message}`);
  }

  /** Removes layers (unpacked and packed) from this node's store and forgets that it held them. */
  removeLayers(diffIds: string[]): Promise<string[]> {
    return this.layers.remove(diffIds);
  }

  /** The reconciler's pass over this node's layers (NodeLayers.reconcile). */
  reconcileLayers(graceMs = 10 * 60_000): Promise<{ removed: number; recorded: number; forgotten: number }> {
    return this.layers.reconcile(graceMs);
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
   * `uploadLimitBytes` of request body (PAYLOAD_TOO_LARGE), each layer blob verified against its
   * digest and kept packed in this node's store; the layers unpack (nagaya-extract, within the
   * store's limits, each checked against its diff_id) right after, in the background, or at the
   * image's first launch, whichever comes first (see deferUnpack). A refused archive leaves
   * nothing behind. Recording the image checks the project's diskBytes quota; then it is pushed
   * to the fleet's registry, when there is one, so that every node can fetch it.
   */
  async import(project: string, name: string, body: Readable, uploadLimitBytes: number): Promise<ImageRecord> {
    await this.refuseTaken(project, name);
    await this.directories.openStore();
    const upload = new LimitedBody(body, uploadLimitBytes);
    const deferUnpack = await this.deferUnpack(project);
    const imported = await importImage(Readable.from(upload.chunks()), this.ociStore, {
      maxArchiveBytes: this.unpackLimits.maxBytes,
      layerLimits: this.unpackLimits,
      deferUnpack,
      // the compressed blobs, verified, for the push to the fleet's registry
      keepBlobs: this.registry !== undefined,
    }).catch(async (err: unknown) => {
      await upload.discardRest().catch(() => undefined); // a client gone mid-body: nothing to answer
      throw err;
    });
    return this.recordImported(project, name, imported, { format: imported.format, reference: null, source: 'upload' });
  }

  /**
   * Whether an import into `project` keeps its layers packed, to unpack them later: an import
   * then costs what copying its blobs costs. Not in a project with a diskBytes quota, whose images
   * count their unpacked size (known only by unpacking) as they always have.
   */
  async deferUnpack(project: string): Promise<boolean> {
    const { rows } = await this.requireDb().query<{ quota: string | null }>(
      'SELECT quota_disk_bytes AS quota FROM project WHERE name = $1',
      [project],
    );
    return rows[0] !== undefined && rows[0].quota === null;
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
   * An image whose layers came packed has its user names read when they unpack, which starts now
   * in the background (a create that needs them waits: withIdentities).
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
    const packed = imported.layers.some((l) => l.packed);
    try {
      const identities = packed ? { identitiesPending: true } : await readIdentities(imported.layers.map((l) => l.dir).reverse());
      // before the record: the reconciler forgets a check no image has only after a grace time
      await records.markChecked(imported.layers.filter((l) => l.checked));
      await records.insert({
        project,
        name,
        format: origin.format,
        digest: imported.manifestDigest,
        config: { ...runDefaults(imported.config), ...identities },
        layers: imported.layers.map((l) => ({ diffId: l.diffId, digest: l.digest, sizeBytes: l.size })),
        reference: origin.reference,
        files: 0,
        source: origin.source,
        node: this.fleet.node ?? 'local',
      });
      if (this.registry) await this.publish(project, name, imported);
    } finally {
      if (this.registry) await this.removeKeptBlobs(imported);
    }
    const image = (await records.visible(project, name))!;
    if (packed) {
      this.layers.ensure(image).catch((err: unknown) => {
        this.fleet.warn?.(`image ${name} of project ${project} did not unpack after its import: ${(err as Error).message}`);
      });
    }
    return image;
  }

  /**
   * The image a create names, with its user names read, for working out who its process runs as: an
   * image imported with its layers packed has them once its layers unpack on some node, so this
   * waits for that on this node when it has not happened yet (the unpack its import started, or
   * one of its own).
   */
  async visibleWithIdentities(project: string, name: string): Promise<ImageRecord | undefined> {
    const image = await this.visible(project, name);
    return image && this.withIdentities(image);
  }

  /** withIdentities of one record (see visibleWithIdentities). */
  private async withIdentities(image: ImageRecord): Promise<ImageRecord> {
    if (image.format === 'directory' || !image.config.identitiesPending) return image;
    await this.layers.ensure(image);
    return (await this.visible(image.project, image.name)) ?? image;
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
}
