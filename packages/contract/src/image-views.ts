import type { JobRef } from './job-views';

// What /images returns: an image, its layers and run defaults, and the job of a pull.

/** POST /images/pull: the job that pulls, and the image it will make. */
export interface ImagePullView {
  job: JobRef;
  image: { project: string; name: string };
}

/** One layer of an image, content-addressed by its uncompressed digest. */
export interface ImageLayerView {
  diffId: string;
  sizeBytes: number;
}

/** What a launch of the image runs unless the create says otherwise (from the image config). */
export interface ImageRunDefaultsView {
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: string[];
  workingDir: string | null;
  user: string | null;
}

/** One entry of GET /images. */
export interface ImageView {
  project: string;
  /** name[:tag] */
  name: string;
  /** directory (one tree: busybox, rootfs uploads of earlier releases), rootfs, oci-layout, docker-save, docker-save-oci, registry */
  format: string;
  /** The manifest's digest; null for a directory image. */
  digest: string | null;
  sizeBytes: number;
  files: number;
  source: string;
  /** Where a pulled image came from. */
  reference: string | null;
  /** Bottom first. */
  layers: ImageLayerView[];
  config: ImageRunDefaultsView;
  /** The nodes that hold every layer of it (a launch elsewhere pulls it from the fleet's registry first). */
  nodes: string[];
  createdAt: string;
}
