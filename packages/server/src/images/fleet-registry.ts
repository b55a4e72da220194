import { join } from 'node:path';
import { nodePlatform, pullToLayout, type PulledImage } from '../registry/pull-to-layout';
import { RegistryAuth } from '../registry/registry-auth';
import { RegistryClient } from '../registry/registry-client';

/** A manifest as pushed: its exact bytes, which its digest is of. */
export interface ManifestBlob {
  mediaType: string;
  digest: string;
  bytes: Buffer;
}

/**
 * The fleet's own registry (NAGAYA_REGISTRY_URL): where an imported image is pushed, and where a
 * node that lacks an image's layers fetches them by digest. One repository per project and image
 * name, `nagaya/<project>/<name>`, tagged with the image's tag (latest when it has none), so the
 * registry's own listing reads like the fleet's.
 */
export class FleetRegistry {
  private readonly client: RegistryClient;

  constructor(url: string) {
    const parsed = new URL(url);
    const credentials = parsed.username
      ? { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) }
      : undefined;
    this.client = new RegistryClient(parsed.origin, new RegistryAuth(credentials));
  }

  /** The repository and tag of a project's image (names are [a-z0-9._-], tags [A-Za-z0-9_.-]: both fit the registry's grammar). */
  static place(project: string, name: string): { repository: string; tag: string } {
    const [repo = name, tag = 'latest'] = name.split(':');
    return { repository: `nagaya/${project}/${repo}`, tag };
  }

  /** Pushes an image whose blobs are files `<blobDir>/sha256/<hex>`: layers and config first, the manifest last. */
  async push(project: string, name: string, blobDir: string, manifest: ManifestBlob): Promise<void> {
    const { repository, tag } = FleetRegistry.place(project, name);
    const doc = JSON.parse(manifest.bytes.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const path = (digest: string) => join(blobDir, 'sha256', digest.slice('sha256:'.length));
    for (const blob of [...doc.layers, doc.config]) {
      await this.client.pushBlob(repository, blob.digest, path(blob.digest)).catch(async (err: NodeJS.ErrnoException) => {
        // another import of the same layer pushed it and removed its copy between our HEAD and our read
        if (err.code !== 'ENOENT' || !(await this.client.hasBlob(repository, blob.digest))) throw err;
      });
    }
    await this.client.putManifest(repository, tag, manifest.mediaType, manifest.bytes);
  }

  /** Fetches an image by its manifest digest into an OCI layout directory (resumed, verified). */
  async pull(project: string, name: string, digest: string, layoutDir: string, maxBytes: number): Promise<PulledImage> {
    const { repository } = FleetRegistry.place(project, name);
    return pullToLayout(this.client, repository, digest, layoutDir, { platform: nodePlatform(), maxBytes });
  }
}
