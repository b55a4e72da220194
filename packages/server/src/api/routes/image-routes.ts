import type { ImageView } from '@nagaya/contract';
import { imageImportQuery, imageParams, pullImageSchema } from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import type { ImageRecord } from '../../images/image-records';
import { operation, type Operation } from '../operation';

/** An image as the API shows it: its layers with their sizes, the defaults of a launch, the nodes that hold it. */
function imageView(r: ImageRecord): ImageView {
  return {
    project: r.project,
    name: r.name,
    format: r.format,
    digest: r.digest,
    sizeBytes: r.sizeBytes,
    files: r.files,
    source: r.source,
    reference: r.reference,
    layers: r.layers.map((diffId, i) => ({ diffId, sizeBytes: r.layerSizes[i] ?? 0 })),
    config: {
      entrypoint: r.config.entrypoint ?? null,
      cmd: r.config.cmd ?? null,
      env: r.config.env ?? [],
      workingDir: r.config.workingDir ?? null,
      user: r.config.user ?? null,
    },
    nodes: r.nodes,
    createdAt: r.createdAt,
  };
}

/** /images: list, show, import, pull, delete. */
export const imageOperations: Operation[] = [
  operation({
    method: 'post',
    path: '/images/pull',
    summary:
      "Pull an image from a registry into the request's project, as a job on a worker node (202; the job's progress counts bytes); the credentials are used for this pull only",
    role: 'operator',
    scope: 'project',
    success: 202,
    body: pullImageSchema,
    handle: async ({ deps, actor, scope, body }) => {
      const pull = await deps.imagePulls.pull(scope.project, body);
      // the reference, never the credentials
      await deps.audit.record(actor, scope.project, 'image.pull', pull.image.name, { reference: body.reference, job: pull.job.id });
      return pull;
    },
  }),
  operation({
    method: 'get',
    path: '/images/{name}',
    summary: "One image the request's project can run (its own, else a built-in one)",
    role: 'viewer',
    scope: 'project',
    success: 200,
    params: imageParams,
    handle: async ({ deps, scope, params }) => {
      const image = await deps.images.visible(scope.project, params.name);
      if (!image) throw new NagayaError('NOT_FOUND', `no image named ${params.name} in project ${scope.project}`);
      return imageView(image);
    },
  }),
  operation({
    method: 'delete',
    path: '/images/{name}',
    summary: "Delete an image of the request's project (409 while a container names it); layers no other image uses are removed",
    role: 'operator',
    scope: 'project',
    success: 200,
    params: imageParams,
    handle: async ({ deps, actor, scope, params }) => {
      const { removedLayers } = await deps.images.delete(scope.project, params.name);
      await deps.audit.record(actor, scope.project, 'image.delete', params.name, { removedLayers });
      return { deleted: params.name, removedLayers };
    },
  }),
  operation({
    method: 'get',
    path: '/images',
    summary: "The project's images (all-projects=true: every project's)",
    role: 'viewer',
    scope: 'project',
    success: 200,
    handle: async ({ deps, scope }) => ({ images: (await deps.images.list(scope.all ? undefined : scope.project)).map(imageView) }),
  }),
  operation({
    method: 'post',
    path: '/images',
    summary: "Import a rootfs tarball (body: tar or tar.gz) into the request's project, within its diskBytes quota",
    role: 'operator',
    scope: 'project',
    success: 201,
    query: imageImportQuery,
    handle: async ({ req, deps, actor, scope, query: { name } }) => {
      const length = Number(req.get('content-length') ?? 0);
      if (length > deps.imageUploadLimitBytes) {
        throw new NagayaError('PAYLOAD_TOO_LARGE', `the image is larger than ${deps.imageUploadLimitBytes} bytes`);
      }
      const image = await deps.images.import(scope.project, name, req, deps.imageUploadLimitBytes);
      await deps.audit.record(actor, scope.project, 'image.import', name, { digest: image.digest, sizeBytes: image.sizeBytes });
      return imageView(image);
    },
  }),
];
