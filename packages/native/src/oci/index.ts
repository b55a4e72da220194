// OCI images on a node: import an archive into the content-addressed layer store, list and remove layers.
export { importImage, DEFAULT_MAX_LAYERS } from './import-image';
export { importImageLayout } from './import-layout';
export type { LayoutImportOptions } from './import-layout';
export type { ImportOptions, ImportedImage, ImportedLayer } from './import-image';
export { listLayers, removeLayer, layerDir, removeStaleStaging } from './layer-store';
export type { StoredLayer } from './layer-store';
export { unpackPackedLayers, isPacked } from './unpack-packed';
export type { CheckedLayer, LayerBlob } from './unpack-packed';
export { listPacked } from './packed-layers';
export type { PackedLayer } from './packed-layers';
export { blobPath, listBlobs, removeBlob } from './blob-store';
export { nodePlatform } from './image-model';
export type { ImageConfig, Platform } from './image-model';
export type { ImageFormat } from './resolved-image';
