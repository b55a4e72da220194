import { ApiError, apiErrorOf } from '@nagaya/contract';

/** A small client of the REST API v1, for the CLI and the tests. */

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string | undefined,
  ) {}

  /** Sends a request and returns the parsed JSON body; throws ApiError with the API's code on failure. */
  async request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl.replace(/\/$/, '')}/api/v1${path}`, {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      // fetch says only "fetch failed"; the cause says why (refused, a certificate it does not trust)
      const cause = (err as Error & { cause?: Error }).cause;
      throw new ApiError(0, 'UNAVAILABLE', `cannot reach ${this.baseUrl}: ${cause?.message ?? (err as Error).message}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!response.ok) throw apiErrorOf(response.status, parsed);
    return parsed as T;
  }

  get<T = unknown>(path: string) {
    return this.request<T>('GET', path);
  }

  post<T = unknown>(path: string, body: unknown = {}, headers?: Record<string, string>) {
    return this.request<T>('POST', path, body, headers);
  }

  delete<T = unknown>(path: string) {
    return this.request<T>('DELETE', path);
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
