import type { ImageView } from '@nagaya/contract';
import { imageImportQuery } from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import type { ImageInfo } from '../../images/image-store';
import { operation, type Operation } from '../operation';

/** An image without its place on disk, which is the server's business. */
function imageView({ path: _path, ...view }: ImageInfo): ImageView {
  return {
    ...view,
    format: 'directory',
    digest: null,
    reference: null,
    layers: [],
    config: { entrypoint: null, cmd: null, env: [], workingDir: null, user: null },
    nodes: [],
  };
}

/** /images: list, import. */
export const imageOperations: Operation[] = [
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
      await deps.audit.record(actor, scope.project, 'image.import', name, { files: image.files, sizeBytes: image.sizeBytes });
      return imageView(image);
    },
  }),
];
