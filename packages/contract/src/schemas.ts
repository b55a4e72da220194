/**
 * Requests of the REST API. Every route validates with these, and the server's OpenAPI document
 * is generated from the same objects, so the two cannot drift. One file per resource; this is
 * the one import path ('@nagaya/contract/schemas') for all of them.
 */

export { dnsLabel, emptySchema, imageName, nodeName } from './schema-parts';
export * from './container-schemas';
export * from './network-schemas';
export * from './exec-schemas';
export * from './log-schemas';
export * from './token-schemas';
export * from './pool-schemas';
export * from './job-schemas';
export * from './image-schemas';
export * from './project-schemas';
export * from './node-schemas';
export { createVolumeSchema, mountSchema, mountsSchema, volumeParams, type CreateVolumeInput, type MountInput } from './volume-schemas';
export * from './run-schemas';
