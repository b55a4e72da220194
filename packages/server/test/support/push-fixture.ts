import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryAuth } from '../../src/registry/registry-auth';
import { MEDIA, RegistryClient, sha256Of } from '../../src/registry/registry-client';
import type { FixtureImage } from '../../../native/test/support/oci-fixtures';
import type { LocalRegistry } from './local-registry';

/** A client of a test registry with its own credentials. */
export function registryClient(registry: LocalRegistry): RegistryClient {
  return new RegistryClient(registry.url, new RegistryAuth(registry.credentials));
}

/** Pushes a fixture image (its layers, config and manifest) to a test registry as repository:tag. */
export async function pushFixture(registry: LocalRegistry, repository: string, tag: string, image: FixtureImage): Promise<void> {
  const client = registryClient(registry);
  const dir = mkdtempSync(join(tmpdir(), 'nagaya-push-'));
  try {
    const blobs = [...image.layers.map((l) => ({ digest: l.digest, bytes: l.blob })), { digest: image.configDigest, bytes: image.config }];
    for (const [i, blob] of blobs.entries()) {
      writeFileSync(join(dir, `blob-${i}`), blob.bytes);
      await client.pushBlob(repository, blob.digest, join(dir, `blob-${i}`));
    }
    await client.putManifest(repository, tag, MEDIA.ociManifest, image.manifest);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Pushes an index (manifest list) that names one image, pushed before, as being of `platform` only. */
export async function pushIndex(
  registry: LocalRegistry,
  repository: string,
  tag: string,
  image: FixtureImage,
  platform: { os: string; architecture: string },
): Promise<string> {
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [{ mediaType: MEDIA.ociManifest, digest: image.manifestDigest, size: image.manifest.length, platform }],
    }),
  );
  await registryClient(registry).putManifest(repository, tag, MEDIA.ociIndex, index);
  return sha256Of(index);
}
