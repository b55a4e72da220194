import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NagayaError } from '../errors';
import type { FleetRegistry } from './fleet-registry';
import { readIdentities } from './image-identities';
import type { ImageRecord, ImageRecords } from './image-records';

/** How long a check another process here is making of a blob is waited for (it unpacks a layer: seconds at most). */
const CHECK_WAIT_MS = 30_000;
/** A pull's layout older than this is no pull's any more. */
const STALE_PULL_MS = 24 * 3600_000;
/** A packed blob younger than this is left to the reconciler by a removal (an import may be about to record it). */
const FRESH_PACKED_MS = 60_000;

/** Which image, exactly: its name and the manifest it had. */
export interface ImageKey {
  project: string;
  name: string;
  digest: string | null;
}

/**
 * A layer blob as one string ("diff_id digest"), for sets and maps of blobs; ImageRecords builds
 * the same keys in SQL (checked, usedBlobs).
 */
function blobKey(b: LayerBlob): string {
  return `${b.diffId} ${b.digest}`;
}

/** How long ago a path was changed (its ctime, or the time given), in ms; 0 when it is gone. */
async function ageMs(path: string, time: 'ctimeMs' | 'mtimeMs' = 'ctimeMs'): Promise<number> {
  return stat(path).then(
    (s) => Date.now() - s[time],
    () => 0,
  );
}

/** The error an image gets for a layer blob of it that was refused (why: what the unpack said of the blob). */
function refusalOf(image: ImageKey, why: string): NagayaError {
  return new NagayaError('IMAGE_UNAVAILABLE', `image ${image.name} of project ${image.project} cannot be unpacked: ${why}`, {
    reason: 'bad-content',
  });
}

/** The image's layer blobs (diff_id and digest, bottom first); undefined for an image recorded before they were kept. */
function blobsOf(image: ImageRecord): LayerBlob[] | undefined {
  if (!image.layerDigests) return undefined;
  return image.layers.map((diffId, i) => ({ diffId, digest: image.layerDigests![i]! }));
}
import {
  type ExtractLimits,
  importImageLayout,
  isPacked,
  type LayerBlob,
  listLayers,
  listPacked,
  type NativeError,
  removeLayer,
  unpackPackedLayers,
} from '@nagaya/native';

/**
 * This node's copy of the OCI images' layers, in its content-addressed store: each layer is
 * unpacked (an overlay lower), or packed (the blob an import verified by digest and kept, see
 * importImage's deferUnpack), or fetched by digest from the fleet's registry. An image's layers
 * are made present once per node, whoever asks first (a launch, a create that needs the image's
 * user names, the unpack an import starts): concurrent askers share one unpack or fetch.
 */
export class NodeLayers {
  /** Unpacks and fetches under way on this node, by manifest digest. */
  private readonly underWay = new Map<string, Promise<void>>();
  /**
   * Layer blobs this node refused ("diff_id digest"): a blob that is not its diff_id stays so,
   * and an image recorded with it later (a re-import, another project) is refused and taken back
   * in turn, though the blob itself is gone.
   */
  private readonly refused = new Map<string, string>();
  /** Images (by manifest digest) whose every layer blob is checked and whose layers were all here: a launch of one reads nothing more. */
  private readonly ready = new Set<string>();

  constructor(
    /** `<dataDir>/images/.oci`: layers/, packed/, blobs/, staging/. */
    readonly store: string,
    private readonly limits: ExtractLimits,
    private readonly records: ImageRecords | undefined,
    private readonly registry: FleetRegistry | undefined,
    private readonly fleet: { node?: string; maxImageBytes?: number },
    /** Told of each image whose layer blob this node refused: the image store takes it back. */
    private readonly onRefused: (image: ImageKey, refusal: NagayaError) => Promise<void> = async () => undefined,
  ) {}

  /** A layer's directory in this node's store. */
  layerPath(diffId: string): string {
    return join(this.store, 'layers', 'sha256', diffId.slice('sha256:'.length));
  }

  /** Whether a launch of the image (its manifest digest) may use its layer directories as they are, when they are all here. */
  isReady(manifestDigest: string | null): boolean {
    return manifestDigest !== null && this.ready.has(manifestDigest);
  }

  /** An OCI image's layer dirs, topmost first, made present (and its blobs checked) first when needed. */
  async dirsFor(image: ImageRecord): Promise<string[]> {
    const dirs = image.layers.map((d) => this.layerPath(d));
    if (!this.isReady(image.digest) || !dirs.every((d) => existsSync(d))) await this.ensure(image);
    return dirs.reverse();
  }

  /**
   * Makes the image usable on this node: every layer blob of it checked against its diff_id (by
   * some node: Postgres keeps what was checked), the ones packed here checked and unpacked now,
   * every layer directory present (fetched from the fleet's registry when this node cannot make
   * it), and its user names recorded if they were still to be read. IMAGE_UNAVAILABLE when it
   * cannot: a blob that is not its diff_id (the image is then taken back), or a layer neither
   * here nor in a registry.
   */
  async ensure(image: ImageRecord): Promise<void> {
    // shared by the askers of one image; another project's image of the same manifest does its
    // own work, so that what goes wrong is told to each in the name of its own image
    const key = `${image.project}/${image.name}@${image.digest!}`;
    let work = this.underWay.get(key);
    if (!work) {
      work = this.makePresent(image).finally(() => this.underWay.delete(key));
      this.underWay.set(key, work);
    }
    await work;
  }

  private async makePresent(image: ImageRecord): Promise<void> {
    const blobs = blobsOf(image);
    const missing = () => image.layers.some((d) => !existsSync(this.layerPath(d)));
    if (blobs) {
      await this.refuseKnownBad(image, blobs);
      const checked = await this.records!.checked(blobs);
      const results = await unpackPackedLayers(
        this.store,
        blobs.filter((b) => isPacked(this.store, b)),
        this.limits,
      );
      const refused = results.find((r) => r.refusal);
      if (refused) throw await this.refuse(image, refused, refused.refusal!);
      const nowChecked = results.filter((r) => r.checked);
      await this.records!.markChecked(nowChecked);
      // the sizes the import recorded were the blobs': now the unpacked ones are known
      await this.records!.recordUnpackedSizes(
        nowChecked.filter((r) => r.size !== undefined).map((r) => ({ diffId: r.diffId, sizeBytes: r.size! })),
      );
      for (const r of nowChecked) checked.add(blobKey(r));
      // a blob whose packed copy another process here took while this one looked: it records its check in a moment
      const taken = results.filter((r) => !r.checked && r.present && !checked.has(blobKey(r)));
      if (taken.length) for (const k of await this.awaitChecks(taken)) checked.add(k);
      // a blob no node checked and this node does not have: fetch the image (its import checks every blob)
      if (blobs.some((b) => !checked.has(blobKey(b))) || missing()) await this.fetch(image);
    } else if (missing()) {
      await this.fetch(image);
    }
    if (image.config.identitiesPending) {
      const { passwd, groups } = await readIdentities(image.layers.map((d) => this.layerPath(d)).reverse());
      await this.records!.setIdentities(image.digest!, passwd, groups);
    }
    this.ready.add(image.digest!);
  }

  /**
   * Removes pull layouts left more than a day ago: a pull whose download broke off keeps its
   * layout for a retry of its job to resume, and a worker killed mid-pull leaves one.
   */
  private async removeStalePulls(): Promise<void> {
    const pulls = join(this.store, 'pulls');
    for (const name of await readdir(pulls).catch(() => [] as string[])) {
      if ((await ageMs(join(pulls, name), 'mtimeMs')) > STALE_PULL_MS) await rm(join(pulls, name), { recursive: true, force: true });
    }
  }

  /** The checks of these blobs Postgres records within a few seconds ("diff_id digest" keys). */
  private async awaitChecks(blobs: LayerBlob[]): Promise<Set<string>> {
    const deadline = Date.now() + CHECK_WAIT_MS;
    for (;;) {
      const checked = await this.records!.checked(blobs);
      if (checked.size === blobs.length || Date.now() >= deadline) return checked;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Refuses (and has taken back) an image that has a blob this node refused before. */
  private async refuseKnownBad(image: ImageRecord, blobs: LayerBlob[]): Promise<void> {
    for (const b of blobs) {
      const why = this.refused.get(blobKey(b));
      if (why === undefined) continue;
      const refusal = refusalOf(image, why);
      await this.onRefused(image, refusal).catch(() => undefined);
      throw refusal;
    }
  }

  /** A blob that is not its diff_id: every image that has it is taken back (here, this one included). */
  private async refuse(image: ImageRecord, blob: LayerBlob, err: NativeError): Promise<NagayaError> {
    this.refused.set(blobKey(blob), err.message);
    const holders = await this.records!.withBlob(blob).catch(() => [image]);
    for (const holder of holders) await this.onRefused(holder, refusalOf(holder, err.message)).catch(() => undefined);
    return refusalOf(image, err.message);
  }

  /**
   * Pulls an image by digest from the fleet's registry into a layout in the store, imports it
   * (its layers unpacked, verified against their diff_ids), and records that this node holds them.
   */
  private async fetch(image: ImageRecord): Promise<void> {
    const where = `; the nodes that hold it: ${image.nodes.join(', ') || 'none'}`;
    if (!this.registry) {
      throw new NagayaError(
        'IMAGE_UNAVAILABLE',
        `image ${image.name} of project ${image.project} is not on this node and the fleet has no registry (NAGAYA_REGISTRY_URL)${where}`,
        { reason: 'not-on-node' },
      );
    }
    const layout = join(this.store, 'pulls', image.digest!.slice('sha256:'.length));
    await mkdir(layout, { recursive: true, mode: 0o700 });
    try {
      await this.registry.pull(image.project, image.name, image.digest!, layout, this.fleet.maxImageBytes ?? Number.MAX_SAFE_INTEGER);
      // unpacked at once: a launch is waiting; the blobs were verified as they downloaded
      const imported = await importImageLayout(layout, this.store, { layerLimits: this.limits, blobsVerified: true });
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
      // an eager import checks every blob against its diff_id
      await this.records!.markChecked(imported.layers);
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

  /** Removes layers, unpacked and packed, from this node's store and forgets that it held them. */
  async remove(diffIds: string[]): Promise<string[]> {
    for (const diffId of diffIds) {
      await removeLayer(this.store, diffId);
      // a packed blob put in place a moment ago may be an import's that is about to record its image: the reconciler takes it later
      for (const p of await listPacked(this.store, diffId)) {
        if ((await ageMs(p.path)) >= FRESH_PACKED_MS) await rm(p.path, { force: true });
      }
    }
    if (diffIds.length && this.fleet.node) await this.records!.released(this.fleet.node, diffIds);
    return diffIds;
  }

  /**
   * The reconciler's pass over this node's layers, unpacked and packed: removes those no image
   * uses (a layer directory by its diff_id, a packed blob by its pair: deleted on another node,
   * or left by an import that failed to record; only once they have been in place for `graceMs`,
   * since an import moves its layers in before it records them), makes node_layer say exactly
   * which of the used ones this node holds, and starts the unpack of images whose packed blobs
   * are here and that no node has unpacked yet (their import's unpack was cut short by a restart).
   */
  async reconcile(graceMs: number): Promise<{ removed: number; recorded: number; forgotten: number }> {
    const records = this.records!;
    const node = this.fleet.node;
    const [unpacked, packed, used, usedBlobs, held] = await Promise.all([
      listLayers(this.store),
      listPacked(this.store),
      records.usedLayers(),
      records.usedBlobs(),
      node ? records.heldBy(node) : new Set<string>(),
    ]);
    const old = async (path: string) => (await ageMs(path)) >= graceMs;
    const unusedDirs: string[] = [];
    for (const l of unpacked) if (!used.has(l.diffId) && (await old(l.dir))) unusedDirs.push(l.diffId);
    let removed = (await this.remove(unusedDirs)).length;
    for (const p of packed) {
      if (usedBlobs.has(blobKey(p)) || !(await old(p.path))) continue;
      await rm(p.path, { force: true });
      removed++;
    }
    await records.forgetUnusedChecks(graceMs);
    await this.removeStalePulls();
    const here = new Set([...unpacked.map((l) => l.diffId), ...packed.map((p) => p.diffId)].filter((d) => used.has(d)));
    const missing = [...held].filter((d) => !here.has(d));
    const unrecorded = [...here].filter((d) => !held.has(d));
    if (node && missing.length) await records.released(node, missing);
    if (node && unrecorded.length) await records.holds(node, unrecorded);
    for (const image of await records.pendingUnpack()) {
      if (!blobsOf(image)?.some((b) => isPacked(this.store, b))) continue;
      this.ensure(image).catch(() => undefined); // a refusal takes the image back; anything else waits for its first use
    }
    return { removed, recorded: unrecorded.length, forgotten: missing.length };
  }
}
