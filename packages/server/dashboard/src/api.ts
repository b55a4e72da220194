/** The dashboard's only way to the server: fetch against /api/v1 with the session's bearer token. */
import { ApiError, apiErrorOf } from '@nagaya/contract';

export { ApiError };

/** One issue of a 400 INVALID_INPUT answer. */
export interface ValidationIssue {
  path: string;
  message: string;
}

let token: string | null = null;
let onUnauthorized: ((err: ApiError) => void) | null = null;

/** Sets the token used by every call (null: signed out) and what to do when it stops working. */
export function setToken(value: string | null, unauthorized?: (err: ApiError) => void): void {
  token = value;
  onUnauthorized = unauthorized ?? null;
}

/** The session's token (null: signed out), for the event stream, which cannot go through `call`. */
export function sessionToken(): string | null {
  return token;
}

const inflight = new Set<Promise<unknown>>();

/** Resolves once every request now in flight has been answered (whatever the answer). */
export async function settled(): Promise<void> {
  await Promise.allSettled([...inflight]);
}

/** Calls the API with `token` (default: the session's) and returns the parsed JSON; throws ApiError. */
export function call<T>(method: string, path: string, body?: unknown, withToken: string | null = token): Promise<T> {
  const request = send<T>(method, path, body, withToken);
  inflight.add(request);
  const done = () => inflight.delete(request);
  request.then(done, done);
  return request;
}

async function send<T>(method: string, path: string, body: unknown, withToken: string | null): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(withToken ? { authorization: `Bearer ${withToken}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (err) {
    throw new ApiError(0, 'UNAVAILABLE', `cannot reach the server (${(err as Error).message})`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const err = apiErrorOf(response.status, parsed);
    if (response.status === 401 && withToken === token && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  return parsed as T;
}

/** How far an upload has come: bytes sent of the body's total. */
export interface UploadProgress {
  sent: number;
  total: number;
}

/**
 * POSTs `body` as it is (a file, not JSON) and returns the parsed JSON answer; throws ApiError.
 * XMLHttpRequest, because fetch reports no upload progress: `onProgress` hears of every chunk sent.
 * `signal` aborts the upload (an ApiError with status 0).
 */
export function upload<T>(path: string, body: Blob, onProgress: (p: UploadProgress) => void, signal?: AbortSignal): Promise<T> {
  const request = new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1${path}`);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.setRequestHeader('content-type', body.type || 'application/octet-stream');
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => onProgress({ sent: e.loaded, total: e.lengthComputable ? e.total : body.size });
    xhr.onerror = () =>
      reject(
        new ApiError(
          0,
          'UNAVAILABLE',
          'the upload was cut off before the server answered (the server closes the connection on an archive far over its upload limit)',
        ),
      );
    xhr.onabort = () => reject(new ApiError(0, 'UNAVAILABLE', 'the upload was cancelled'));
    xhr.onload = () => {
      let parsed: unknown;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        parsed = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(parsed as T);
        return;
      }
      const err = apiErrorOf(xhr.status, parsed);
      if (xhr.status === 401 && onUnauthorized) onUnauthorized(err);
      reject(err);
    };
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
  inflight.add(request);
  const done = () => inflight.delete(request);
  request.then(done, done);
  return request;
}

export const get = <T>(path: string) => call<T>('GET', path);
export const post = <T>(path: string, body: unknown = {}) => call<T>('POST', path, body);
export const del = <T>(path: string) => call<T>('DELETE', path);

/** The validation issues of an INVALID_INPUT error, as `{ path, message }` (path "" when it names no field). */
export function validationIssues(err: unknown): ValidationIssue[] {
  if (!(err instanceof ApiError) || err.code !== 'INVALID_INPUT') return [];
  const details = (err.details ?? {}) as { issues?: Array<{ path?: unknown; message?: unknown }>; field?: unknown };
  const out: ValidationIssue[] = [];
  for (const issue of details.issues ?? []) {
    const path = Array.isArray(issue.path) ? issue.path.join('.') : String(issue.path ?? '');
    out.push({ path, message: String(issue.message ?? err.message) });
  }
  if (out.length === 0) out.push({ path: typeof details.field === 'string' ? details.field : '', message: err.message });
  return out;
}

/** A one-line description of any error, for banners. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.status === 0 ? err.message : `${err.message} (${err.code})`;
  return (err as Error)?.message ?? String(err);
}

/** One Server-Sent Event: its id (a position to resume after), its type (undefined: a message) and its data. */
export interface StreamEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/**
 * Follows a Server-Sent Events answer of the API (GET `path`, Accept: text/event-stream) with the
 * session's token in the authorization header: fetch and not EventSource, which cannot send one
 * (and the long-lived token must not go into a URL). Resolves when the server ends the stream;
 * rejects with ApiError if it refuses; `signal` stops it.
 */
export async function followEvents(
  path: string,
  onEvent: (event: StreamEvent) => void,
  signal: AbortSignal,
  lastEventId?: string,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      headers: {
        accept: 'text/event-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
      },
      cache: 'no-store',
      credentials: 'omit',
      signal,
    });
  } catch (err) {
    throw new ApiError(0, 'UNAVAILABLE', `cannot reach the server (${(err as Error).message})`);
  }
  if (!response.ok || !response.body) {
    let parsed: unknown;
    try {
      parsed = await response.json();
    } catch {
      parsed = undefined;
    }
    const err = apiErrorOf(response.status, parsed);
    if (response.status === 401 && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += value;
    let blank = buffered.indexOf('\n\n');
    while (blank !== -1) {
      const block = buffered.slice(0, blank);
      buffered = buffered.slice(blank + 2);
      blank = buffered.indexOf('\n\n');
      const event: StreamEvent = { id: undefined, event: undefined, data: '' };
      const data: string[] = [];
      for (const field of block.split('\n')) {
        const colon = field.indexOf(':');
        if (colon <= 0) continue; // a comment, or nothing
        const value = field.slice(colon + 1).replace(/^ /, '');
        const key = field.slice(0, colon);
        if (key === 'id') event.id = value;
        else if (key === 'event') event.event = value;
        else if (key === 'data') data.push(value);
      }
      if (data.length === 0) continue; // retry: and the like
      event.data = data.join('\n');
      onEvent(event);
    }
  }
}
