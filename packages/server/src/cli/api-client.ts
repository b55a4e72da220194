import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ApiError, apiErrorOf } from '@nagaya/contract';

/** A small client of the REST API v1, for the CLI and the tests. */

/**
 * The first path segments of the project-scoped routes: they act in one project (?project=) and
 * their lists may span every project (?all-projects=true). Every other route (pools, nodes,
 * projects, audit, whoami) spans the fleet and is sent neither. The server's table of operations
 * says the same with each operation's `scope`; a test keeps the two in step.
 */
export const PROJECT_SCOPED_ROUTES: readonly string[] = [
  'containers',
  'images',
  'volumes',
  'jobs',
  'allocations',
  'tokens',
  'runs',
  'events',
];

/** Whether a path of /api/v1 (with or without its query) is of a project-scoped route. */
export function isProjectScoped(path: string): boolean {
  return PROJECT_SCOPED_ROUTES.includes(path.split(/[/?]/)[1] ?? '');
}

/** Which project the client's requests to project-scoped routes act in. */
export interface ProjectSelection {
  /** Sent as ?project= (default: the token's own project; `default` for an admin token of every project). */
  project?: string;
  /** Sent as ?all-projects=true on GETs (lists): every project's things, for an admin token of every project. */
  allProjects?: boolean;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string | undefined,
    readonly selection: ProjectSelection = {},
  ) {}

  /** The same server and token, acting in another project selection. */
  withSelection(selection: ProjectSelection): ApiClient {
    return new ApiClient(this.baseUrl, this.token, selection);
  }

  /** The URL of a path of /api/v1, with the project selection added when its route is project-scoped. */
  url(method: string, path: string): string {
    const query = path.indexOf('?');
    const params = new URLSearchParams(query === -1 ? '' : path.slice(query + 1));
    if (isProjectScoped(path)) {
      if (this.selection.project !== undefined) params.set('project', this.selection.project);
      if (this.selection.allProjects && method === 'GET') params.set('all-projects', 'true');
    }
    const base = `${this.baseUrl.replace(/\/$/, '')}/api/v1${query === -1 ? path : path.slice(0, query)}`;
    return params.size ? `${base}?${params}` : base;
  }

  /** Sends a request and returns the parsed JSON body; throws ApiError with the API's code on failure. */
  async request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    return this.send<T>(method, path, body === undefined ? undefined : JSON.stringify(body), {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    });
  }

  /**
   * Sends a request with the token and answers the Response once it is a success; throws
   * ApiError: UNAVAILABLE when the server cannot be reached, else the API's own code.
   */
  private async fetchOk(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.url(method, path), {
        ...init,
        method,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(init.headers as Record<string, string>) },
      });
    } catch (err) {
      // fetch says only "fetch failed"; the cause says why (refused, a certificate it does not trust)
      const cause = (err as Error & { cause?: Error }).cause;
      throw new ApiError(0, 'UNAVAILABLE', `cannot reach ${this.baseUrl}: ${cause?.message ?? (err as Error).message}`);
    }
    if (!response.ok) throw apiErrorOf(response.status, parseAnswer(await response.text()));
    return response;
  }

  private async send<T>(
    method: string,
    path: string,
    body: string | ReadableStream | Uint8Array | undefined,
    headers: Record<string, string>,
  ): Promise<T> {
    const response = await this.fetchOk(method, path, {
      headers,
      ...(body === undefined ? {} : { body }),
      // a stream body is sent as it is read (undici wants this said)
      ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit);
    return parseAnswer(await response.text()) as T;
  }

  get<T = unknown>(path: string) {
    return this.request<T>('GET', path);
  }

  /** GETs a streamed answer (logs?follow=1) and hands each chunk to onChunk until the server ends it; throws ApiError on a refusal. */
  async stream(path: string, onChunk: (chunk: Uint8Array) => void, signal?: AbortSignal): Promise<void> {
    const response = await this.fetchOk('GET', path, signal ? { signal } : {});
    if (!response.body) return;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) onChunk(chunk);
  }

  /** GETs raw bytes (a container's file) into memory, with the answer's headers; throws ApiError on a refusal. */
  async getBytes(path: string): Promise<{ data: Buffer; headers: Headers }> {
    const { body, headers } = await this.download(path);
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
    return { data: Buffer.concat(chunks), headers };
  }

  /** GETs raw bytes as a stream (a container's file of any size) with the answer's headers; throws ApiError on a refusal. */
  async download(path: string): Promise<{ body: Readable; headers: Headers }> {
    const response = await this.fetchOk('GET', path);
    const body = response.body ? Readable.fromWeb(response.body as import('node:stream/web').ReadableStream) : Readable.from([]);
    return { body, headers: response.headers };
  }

  /** PUTs a stream as the raw body (sent as it is read; chunked unless headers give its Content-Length) and returns the JSON answer. */
  putStream<T = unknown>(path: string, body: Readable, headers: Record<string, string>): Promise<T> {
    return this.send<T>('PUT', path, Readable.toWeb(body) as ReadableStream, headers);
  }

  /** PUTs raw bytes (application/octet-stream unless headers say otherwise) and returns the JSON answer. */
  putBytes<T = unknown>(path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<T> {
    return this.send<T>('PUT', path, body, { 'content-type': 'application/octet-stream', ...headers });
  }

  post<T = unknown>(path: string, body: unknown = {}, headers?: Record<string, string>) {
    return this.request<T>('POST', path, body, headers);
  }

  patch<T = unknown>(path: string, body: unknown) {
    return this.request<T>('PATCH', path, body);
  }

  delete<T = unknown>(path: string) {
    return this.request<T>('DELETE', path);
  }

  /** POSTs a file as the raw body (an image tarball), streamed, never read whole into memory. */
  upload<T = unknown>(path: string, file: string, contentType: string) {
    const size = statSync(file).size;
    const body = Readable.toWeb(createReadStream(file)) as ReadableStream;
    return this.send<T>('POST', path, body, { 'content-type': contentType, 'content-length': String(size) });
  }

  /** Polls a job until it completes or fails. */
  async waitForJob(id: string, timeoutMs = 60_000): Promise<{ state: string; error: string | null }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.get<{ state: string; error: string | null }>(`/jobs/${encodeURIComponent(id)}`);
      if (job.state === 'completed' || job.state === 'failed') return job;
      if (Date.now() > deadline) throw new ApiError(0, 'UNAVAILABLE', `job ${id} did not finish within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** An answer's body: its JSON, or its text when it is not JSON (undefined when empty). */
function parseAnswer(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}
