import { NagayaError } from '../errors';

/**
 * An image reference as Docker and the OCI distribution spec write one:
 * `[registry[:port]/]repository[:tag][@sha256:digest]`. A first component with a dot, a colon or
 * named localhost is a registry; otherwise the image is on Docker Hub, whose one-component names
 * live under `library/` (so `alpine:3` is `registry-1.docker.io/library/alpine:3`).
 */
export interface ImageReference {
  /** host[:port] as written (docker.io for Docker Hub). */
  registry: string;
  /** Where the API is: Docker Hub's API host differs from its name. */
  apiBase: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'https://registry-1.docker.io';
/** The distribution spec's repository grammar: lowercase path components joined by / . _ __ or dashes. */
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const REGISTRY_HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;

/**
 * Parses a reference; INVALID_INPUT naming the part that is wrong. `insecureHosts` are registries
 * reached over plain http (a fleet's own registry on 127.0.0.1, or a test's).
 */
export function parseImageReference(text: string, insecureHosts: readonly string[] = []): ImageReference {
  const refuse = (why: string) =>
    new NagayaError('INVALID_INPUT', `image reference ${JSON.stringify(text)}: ${why}`, { field: 'reference' });
  if (text.length === 0 || text.length > 512) throw refuse('must be 1 to 512 characters');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!SHA256_DIGEST.test(digest)) throw refuse('a digest is sha256: and 64 lowercase hex digits');
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      if (!REGISTRY_HOST.test(first)) throw refuse(`${JSON.stringify(first)} is not a registry host[:port]`);
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw refuse(`${JSON.stringify(tag)} is not a tag`);
  }
  let repository = rest;
  if (registry === DOCKER_HUB || registry === 'index.docker.io') {
    registry = DOCKER_HUB;
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  if (!REPOSITORY.test(repository) || repository.length > 255) throw refuse(`${JSON.stringify(repository)} is not a repository name`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const scheme = insecureHosts.includes(registry) ? 'http' : 'https';
  const apiBase = registry === DOCKER_HUB ? DOCKER_HUB_API : `${scheme}://${registry}`;
  return { registry, apiBase, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The reference the registry API takes for a manifest: the digest when there is one, else the tag. */
export function manifestRef(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** The reference written back as text, in full (registry, repository, tag and digest). */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}
