/** What the Images page works out from GET /images: pure, no DOM. */
import { archiveBaseName, type ImageView } from '@nagaya/contract';
export { shortDigest } from '@nagaya/contract';
import { projectColour } from './project-colours';

/**
 * The image name an uploaded file suggests: its name without archive extensions
 * ("alpine-3.tar.gz" → "alpine-3"), lowercased, with what an image name may not hold turned
 * into '-'. Empty when nothing usable is left (the user types one).
 */
export function imageNameOfFile(fileName: string): string {
  return archiveBaseName(fileName)
    .toLowerCase()
    .replace(/[^-a-z0-9._]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63)
    .replace(/[^a-z0-9]+$/, '');
}

/** Which images of a list hold each layer (by diffId), in list order. */
export type LayerOwners = ReadonlyMap<string, readonly string[]>;

/** A key for an image across projects (two projects may each have an image "web"). */
export function imageKey(image: Pick<ImageView, 'project' | 'name'>): string {
  return `${image.project}/${image.name}`;
}

/** For every diffId in the list, the images (by imageKey) that hold it. */
export function layerOwners(images: readonly ImageView[]): LayerOwners {
  const owners = new Map<string, string[]>();
  for (const image of images) {
    const key = imageKey(image);
    for (const layer of image.layers) {
      const list = owners.get(layer.diffId) ?? [];
      // an image that holds the same layer twice (an empty layer, say) counts once
      if (!list.includes(key)) list.push(key);
      owners.set(layer.diffId, list);
    }
  }
  return owners;
}

/** The colour of a layer's bar: its own for a layer several images share (the same in every image), none for a layer of one image. */
export function sharedLayerColour(diffId: string, owners: LayerOwners): string | null {
  return (owners.get(diffId)?.length ?? 0) > 1 ? projectColour(diffId) : null;
}

/** How many of an image's layers other images of the list hold too. */
export function sharedLayerCount(image: ImageView, owners: LayerOwners): number {
  return image.layers.filter((l) => (owners.get(l.diffId)?.length ?? 0) > 1).length;
}

/** A layer bar's width in percent of the image's largest layer: at least a sliver, so an empty layer still shows. */
export function layerBarPercent(sizeBytes: number, largest: number): number {
  if (largest <= 0) return 1;
  return Math.max(1, (100 * sizeBytes) / largest);
}

/** A byte count as a share of a total, as a whole percent (0 when nothing is known of the total). */
export function percentOf(done: number | null | undefined, total: number | null | undefined): number {
  if (!done || !total || total <= 0) return 0;
  return Math.min(100, Math.floor((100 * done) / total));
}
