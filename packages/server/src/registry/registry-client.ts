import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, openAsBlob } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NagayaError } from '../errors';
import type { RegistryAuth } from './registry-auth';
import { SHA256_DIGEST } from './image-reference';
import { streamGet, type StreamedAnswer } from './blob-stream';

/** Manifests and indexes are small documents; anything larger is not one (distribution caps them at 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;
const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');

/** A manifest or index as the registry sent it: its exact bytes (which its digest is of) and its media type. */
export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/**
 * A client of one registry's distribution API v2 (the OCI distribution spec): manifests, blobs
 * by digest (with resume), and pushes. Every answer is checked against its digest; what does not
 * check out, and every refusal of the registry, is IMAGE_UNAVAILABLE with `details.reason`.
 */
export class RegistryClient {
  constructor(
    readonly apiBase: string,
    private readonly auth: RegistryAuth,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  /** GET a manifest or index by tag or digest, verified when asked by digest. */
  async manifest(repository: string, ref: string): Promise<FetchedManifest> {
    const res = await this.send('GET', `/v2/${repository}/manifests/${ref}`, pullScope(repository), { accept: MANIFEST_ACCEPT });
    await this.expectOk(res, `manifest ${repository}:${ref}`);
    const bytes = await readCapped(res, MAX_MANIFEST_BYTES, `manifest ${repository}:${ref}`);
    const digest = sha256Of(bytes);
    if (SHA256_DIGEST.test(ref) && ref !== digest) throw mismatch(`manifest ${repository}@${ref}`, ref, digest);
    const said = res.headers.get('docker-content-digest');
    if (said && SHA256_DIGEST.test(said) && said !== digest) throw mismatch(`manifest ${repository}:${ref}`, said, digest);
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    return { digest, mediaType, bytes };
  }

  /** GET a small blob (an image config) into memory, verified. */
  async smallBlob(repository: string, digest: string, maxBytes: number): Promise<Buffer> {
    const res = await this.send('GET', `/v2/${repository}/blobs/${digest}`, pullScope(repository));
    await this.expectOk(res, `blob ${digest}`);
    const bytes = await readCapped(res, maxBytes, `blob ${digest}`);
    const got = sha256Of(bytes);
    if (got !== digest) throw mismatch(`blob ${digest}`, digest, got);
    return bytes;
  }

  /**
   * Downloads a blob to `dest`, verified by digest and size. A `<dest>.partial` left by an
   * interrupted download is resumed with a Range request (a registry that ignores Range sends it
   * whole, and the part is dropped). `onBytes` is told each chunk's size as it arrives.
   */
  async blobToFile(repository: string, digest: string, size: number, dest: string, onBytes?: (n: number) => void): Promise<void> {
    const partial = `${dest}.partial`;
    const have = await stat(partial).then(
      (s) => s.size,
      () => 0,
    );
    const resume = have > 0 && have < size;
    const res = await this.getStream(`/v2/${repository}/blobs/${digest}`, pullScope(repository), resume ? { range: `bytes=${have}-` } : {});
    await this.expectStreamOk(res, `blob ${digest}`);
    const appending = resume && res.status === 206;
    const hash = createHash('sha256');
    if (appending) {
      for await (const chunk of createReadStream(partial)) hash.update(chunk as Buffer);
      onBytes?.(have);
    }
    let written = appending ? have : 0;
    const counter = new Transform({
      transform(chunk: Buffer, _e, done) {
        written += chunk.length;
        if (written > size) return done(mismatchSize(digest, size, written));
        hash.update(chunk);
        onBytes?.(chunk.length);
        done(null, chunk);
      },
    });
    try {
      await pipeline(res.body, counter, createWriteStream(partial, { flags: appending ? 'a' : 'w' }));
    } catch (err) {
      if (err instanceof NagayaError) {
        await rm(partial, { force: true });
        throw err;
      }
      // the part stays for the next try to resume
      throw unavailable(`blob ${digest}: the download broke off at ${written} of ${size} bytes: ${(err as Error).message}`, 'unreachable');
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (written !== size || got !== digest) {
      await rm(partial, { force: true });
      throw written !== size ? mismatchSize(digest, size, written) : mismatch(`blob ${digest}`, digest, got);
    }
    await rename(partial, dest);
  }

  /** Whether the registry has a blob (HEAD). */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    return (await this.send('HEAD', `/v2/${repository}/blobs/${digest}`, pushScope(repository))).status === 200;
  }

  /** Pushes a blob from a file unless the registry has it already (HEAD); monolithic upload (POST, then PUT ?digest=). */
  async pushBlob(repository: string, digest: string, path: string): Promise<void> {
    const scope = pushScope(repository);
    if (await this.hasBlob(repository, digest)) return;
    const started = await this.send('POST', `/v2/${repository}/blobs/uploads/`, scope);
    await this.expectOk(started, `upload of ${digest}`);
    const location = started.headers.get('location');
    if (!location) throw unavailable(`upload of ${digest}: the registry gave no upload location`, 'bad-answer');
    const url = new URL(location, this.apiBase);
    url.searchParams.set('digest', digest);
    const put = await this.send(
      'PUT',
      url.pathname + url.search,
      scope,
      { 'content-type': 'application/octet-stream' },
      await openAsBlob(path),
    );
    await this.expectOk(put, `upload of ${digest}`);
  }

  /** Puts a manifest under a tag (or its digest). */
  async putManifest(repository: string, ref: string, mediaType: string, bytes: Buffer): Promise<void> {
    const res = await this.send('PUT', `/v2/${repository}/manifests/${ref}`, pushScope(repository), { 'content-type': mediaType }, bytes);
    await this.expectOk(res, `manifest ${repository}:${ref}`);
  }

  /** One request, answering a 401 once with what the challenge asks for. */
  private async send(
    method: string,
    path: string,
    scope: string,
    headers: Record<string, string> = {},
    body?: Blob | Buffer,
  ): Promise<Response> {
    const url = new URL(path, this.apiBase);
    const go = async (authorization: string | undefined) => {
      try {
        return await this.fetchFn(url, {
          method,
          headers: { ...headers, ...(authorization ? { authorization } : {}) },
          ...(body !== undefined ? { body } : {}),
          signal: AbortSignal.timeout(method === 'GET' || method === 'PUT' ? 30 * 60_000 : 60_000),
        });
      } catch (err) {
        const cause = (err as Error & { cause?: Error }).cause;
        throw unavailable(`${url.origin} cannot be reached: ${cause?.message ?? (err as Error).message}`, 'unreachable');
      }
    };
    return this.authorized(scope, `${method} ${url.pathname}`, go, async (refused) => {
      await refused.body?.cancel();
      return refused.headers.get('www-authenticate');
    });
  }

  /**
   * Sends with what the scope's authorization is known to be; on a 401, answers its challenge
   * (`challengeOf` also lets the refused answer's body go) and sends once more.
   */
  private async authorized<A extends { status: number }>(
    scope: string,
    what: string,
    go: (authorization: string | undefined) => Promise<A>,
    challengeOf: (refused: A) => Promise<string | null>,
  ): Promise<A> {
    const first = await go(this.auth.headerFor(scope));
    if (first.status !== 401) return first;
    return go(await this.auth.answer(await challengeOf(first), scope, what));
  }

  /** As send, for a GET whose body is read as a Node stream (a layer: see streamGet). */
  private async getStream(path: string, scope: string, headers: Record<string, string>): Promise<StreamedAnswer> {
    const url = new URL(path, this.apiBase);
    const go = async (authorization: string | undefined) => {
      try {
        return await streamGet(url, { ...headers, ...(authorization ? { authorization } : {}) }, AbortSignal.timeout(30 * 60_000));
      } catch (err) {
        throw unavailable(`${url.origin} cannot be reached: ${(err as Error).message}`, 'unreachable');
      }
    };
    return this.authorized(scope, `GET ${url.pathname}`, go, async (refused) => {
      refused.body.resume();
      return refused.headers['www-authenticate'] ?? null;
    });
  }

  private async expectStreamOk(res: StreamedAnswer, what: string): Promise<void> {
    if (res.status >= 200 && res.status < 300) return;
    const chunks: Buffer[] = [];
    let bytes = 0;
    // an error document, read up to 64 KiB for its message
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (bytes < 64 * 1024) chunks.push(chunk);
      bytes += chunk.length;
    }
    await this.expectOk({ ok: false, status: res.status, text: async () => Buffer.concat(chunks).toString('utf8') }, what);
  }

  private async expectOk(res: Pick<Response, 'ok' | 'status' | 'text'>, what: string): Promise<void> {
    if (res.ok) return;
    const text = await res.text().catch(() => '');
    const reason = res.status === 404 ? 'not-found' : res.status === 401 || res.status === 403 ? 'unauthorized' : 'refused';
    const said = registryErrorOf(text);
    throw new NagayaError('IMAGE_UNAVAILABLE', `${what}: the registry answered ${res.status}${said ? ` (${said})` : ''}`, {
      reason,
      status: res.status,
    });
  }
}

export const pullScope = (repository: string) => `repository:${repository}:pull`;
const pushScope = (repository: string) => `repository:${repository}:pull,push`;

export function sha256Of(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function unavailable(message: string, reason: string): NagayaError {
  return new NagayaError('IMAGE_UNAVAILABLE', message, { reason });
}

function mismatch(what: string, expected: string, got: string): NagayaError {
  return new NagayaError('IMAGE_UNAVAILABLE', `${what}: the registry sent content whose digest is ${got}, not ${expected}`, {
    reason: 'digest-mismatch',
    expected,
    got,
  });
}

function mismatchSize(digest: string, size: number, got: number): NagayaError {
  return new NagayaError('IMAGE_UNAVAILABLE', `blob ${digest}: the registry sent ${got} bytes, its descriptor says ${size}`, {
    reason: 'size-mismatch',
    expected: size,
    got,
  });
}

/** The first `errors[].message` of a distribution error body, if it has one. */
function registryErrorOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const e = body.errors?.[0];
    return e ? [e.code, e.message].filter(Boolean).join(': ') : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a response body of at most `max` bytes; more is a registry that is not sending what it should. */
async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > max) throw unavailable(`${what}: ${declared} bytes is more than the ${max} such a document may have`, 'too-large');
  const chunks: Buffer[] = [];
  let total = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > max) throw unavailable(`${what}: more than the ${max} bytes such a document may have`, 'too-large');
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
