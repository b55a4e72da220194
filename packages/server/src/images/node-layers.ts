import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NagayaError } from '../errors';
import type { FleetRegistry } from './fleet-registry';
import { readIdentities } from './image-identities';
import type { ImageRecord, ImageRecords } from './image-records';
import {
  type ExtractLimits,
  importImageLayout,
  layersAtHand,
  listLayers,
  listPacked,
  NativeError,
  removeLayer,
  removePacked,
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
   * Images whose layers this node refused to unpack, by manifest digest: the digest fixes every
   * blob, so the refusal holds for good, and later asks get it again (the refused blob is gone,
   * and they would otherwise only learn that the layer is missing).
   */
  private readonly refused = new Map<string, NagayaError>();

  constructor(
    /** `<dataDir>/images/.oci`: layers/, packed/, blobs/, staging/. */
    readonly store: string,
    private readonly limits: ExtractLimits,
    private readonly records: ImageRecords | undefined,
    private readonly registry: FleetRegistry | undefined,
    private readonly fleet: { node?: string; maxImageBytes?: number },
    /** Told once of an image whose layers this node refused (bad content): the image store takes it back. */
    private readonly onRefused: (image: ImageRecord, refusal: NagayaError) => Promise<void> = async () => undefined,
  ) {}

  /** A layer's directory in this node's store. */
  layerPath(diffId: string): string {
    return join(this.store, 'layers', 'sha256', diffId.slice('sha256:'.length));
  }

  /** An OCI image's layer dirs, topmost first, made present first when any is missing. */
  async dirsFor(image: ImageRecord): Promise<string[]> {
    const dirs = image.layers.map((d) => this.layerPath(d));
    if (!dirs.every((d) => existsSync(d)) || image.config.identitiesPending) await this.ensure(image);
    return dirs.reverse();
  }

  /**
   * Makes every layer of the image present here (unpacking packed ones, else fetching them from
   * the fleet's registry) and records the image's user names if they were still to be read.
   * IMAGE_UNAVAILABLE when it cannot: a layer that does not unpack to its diff_id, or neither here
   * nor in a registry.
   */
  async ensure(image: ImageRecord): Promise<void> {
    const digest = image.digest!;
    const refusal = this.refused.get(digest);
    if (refusal) throw refusal;
    let work = this.underWay.get(digest);
    if (!work) {
      work = this.makePresent(image).finally(() => this.underWay.delete(digest));
      this.underWay.set(digest, work);
    }
    await work;
  }

  private async makePresent(image: ImageRecord): Promise<void> {
    if (!image.layers.every((d) => existsSync(this.layerPath(d)))) {
      if (await layersAtHand(this.store, image.layers)) await this.unpackPacked(image);
      else await this.fetch(image);
    }
    if (image.config.identitiesPending) {
      const { passwd, groups } = await readIdentities(image.layers.map((d) => this.layerPath(d)).reverse());
      await this.records!.setIdentities(image, passwd, groups);
    }
  }

  private async unpackPacked(image: ImageRecord): Promise<void> {
    try {
      await unpackPackedLayers(this.store, image.layers, this.limits);
    } catch (err) {
      if (!(err instanceof NativeError)) throw err;
      // a packed blob removed meanwhile (the image deleted and made again): fetch it instead
      if (err.code === 'NOT_FOUND') return this.fetch(image);
      const badContent = err.code === 'INVALID_INPUT' || err.code === 'PAYLOAD_TOO_LARGE';
      const refusal = new NagayaError(
        'IMAGE_UNAVAILABLE',
        `image ${image.name} of project ${image.project} cannot be unpacked: ${err.message}`,
        {
          reason: badContent ? 'bad-content' : 'unpack-failed',
        },
      );
      if (badContent && !this.refused.has(image.digest!)) {
        this.refused.set(image.digest!, refusal);
        await this.onRefused(image, refusal).catch(() => undefined);
      }
      throw refusal;
    }
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
      await removePacked(this.store, diffId);
    }
    if (diffIds.length && this.fleet.node) await this.records!.released(this.fleet.node, diffIds);
    return diffIds;
  }

  /**
   * The reconciler's pass over this node's layers, unpacked and packed: removes those no image
   * uses (deleted on another node, or left by an import that failed to record; only once they
   * have been in place for `graceMs`, since an import moves its layers in before it records
   * them), and makes node_layer say exactly which of the used ones this node holds.
   */
  async reconcile(graceMs: number): Promise<{ removed: number; recorded: number; forgotten: number }> {
    const records = this.records!;
    const node = this.fleet.node;
    const [unpacked, packed, used, held] = await Promise.all([
      listLayers(this.store),
      listPacked(this.store),
      records.usedLayers(),
      node ? records.heldBy(node) : new Set<string>(),
    ]);
    const placed = new Map<string, string>(); // diff_id -> a path whose age says how long it has been here
    for (const l of unpacked) placed.set(l.diffId, l.dir);
    for (const p of packed) if (!placed.has(p.diffId)) placed.set(p.diffId, p.path);
    const unused: string[] = [];
    for (const [diffId, path] of placed) {
      if (used.has(diffId)) continue;
      const placedAt = await stat(path).then(
        (s) => s.ctimeMs,
        () => Date.now(),
      );
      if (Date.now() - placedAt >= graceMs) unused.push(diffId);
    }
    const removed = await this.remove(unused);
    const here = new Set([...placed.keys()].filter((d) => used.has(d)));
    const missing = [...held].filter((d) => !here.has(d));
    const unrecorded = [...here].filter((d) => !held.has(d));
    if (node && missing.length) await records.released(node, missing);
    if (node && unrecorded.length) await records.holds(node, unrecorded);
    return { removed: removed.length, recorded: unrecorded.length, forgotten: missing.length };
  }
}
