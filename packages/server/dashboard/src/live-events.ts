/**
 * The fleet's events (GET /api/v1/events, Server-Sent Events) for the pages: one stream for the
 * whole tab, opened while a page listens, so a page redraws within a moment of a change instead
 * of asking every few seconds. EventSource cannot send the Authorization header, so this reads
 * the stream with fetch and parses it here (one small parser: the API's frames are `id:` and
 * `data:` lines, and `event:` for its notices). A stream that ends is resumed with Last-Event-ID
 * (nothing missed); while it is down, `isLive()` is false and usePoll falls back to polling.
 */
import { sessionToken } from './api';

/** What a page hears of an event: its type (container.state, job.created, ...). */
export interface LiveEvent {
  id: number;
  type: string;
  project: string | null;
  container: string | null;
  payload: Record<string, unknown>;
}

/** What each page reloads on (a kind takes all of its types). */
export const CONTAINER_EVENTS = ['container', 'job'] as const;
export const NODE_EVENTS = ['node', 'container'] as const;
export const IMAGE_EVENTS = ['image'] as const;
export const VOLUME_EVENTS = ['volume'] as const;
export const FLEET_EVENTS = ['container', 'job', 'node'] as const;
/** Slices are taken by containers and by runs (whose hidden containers write no events of their own). */
export const SLICE_EVENTS = ['container', 'run'] as const;
export const RUN_EVENTS = ['run'] as const;
export const PROJECT_EVENTS = ['project'] as const;
/** A project's use of its quotas moves with what it holds. */
export const PROJECT_USE_EVENTS = ['project', 'container', 'volume', 'image', 'run'] as const;

type Listener = (event: LiveEvent) => void;

const listeners = new Set<Listener>();
const liveWatchers = new Set<(live: boolean) => void>();
let live = false;
let stream: AbortController | undefined;
let streamToken: string | null = null;
let lastEventId: string | undefined;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let idleTimer: ReturnType<typeof setTimeout> | undefined;
/** How long the stream stays open with no page listening. */
const IDLE_CLOSE_MS = 5 * 60_000;

/** Whether the stream is open now (pages poll only while it is not). */
export function isLive(): boolean {
  return live;
}

/** Calls `listener` with each event; returns how to stop. The stream opens with the first listener. */
export function onEvent(listener: Listener): () => void {
  listeners.add(listener);
  clearTimeout(idleTimer);
  ensureStream();
  return () => {
    listeners.delete(listener);
    // Pages come and go on each navigation: the stream stays for the next one, and closes only
    // once nothing has listened for a while (after signing out).
    if (listeners.size === 0) {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(closeStream, IDLE_CLOSE_MS);
    }
  };
}

/** Calls `watcher` when the stream opens or closes; returns how to stop. */
export function onLiveChange(watcher: (live: boolean) => void): () => void {
  liveWatchers.add(watcher);
  return () => liveWatchers.delete(watcher);
}

function setLive(value: boolean): void {
  if (live === value) return;
  live = value;
  for (const watcher of liveWatchers) watcher(value);
}

function ensureStream(): void {
  const token = sessionToken();
  if (stream && streamToken === token) return;
  closeStream();
  if (!token) return;
  streamToken = token;
  const abort = new AbortController();
  stream = abort;
  void follow(token, abort.signal).finally(() => {
    if (stream !== abort) return;
    stream = undefined;
    setLive(false);
    // resume after a moment, from the last id seen, while anyone listens
    if (listeners.size > 0) retryTimer = setTimeout(ensureStream, 1000);
  });
}

function closeStream(): void {
  clearTimeout(retryTimer);
  stream?.abort();
  stream = undefined;
  setLive(false);
}

async function follow(token: string, signal: AbortSignal): Promise<void> {
  let response: Response;
  try {
    response = await fetch('/api/v1/events', {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${token}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
      cache: 'no-store',
      credentials: 'omit',
      signal,
    });
  } catch {
    return;
  }
  if (!response.ok || !response.body) return;
  setLive(true);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  let name = 'message';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
        if (line === '') {
          if (data.length > 0 && name === 'message') dispatch(JSON.parse(data.join('\n')) as LiveEvent);
          data = [];
          name = 'message';
        } else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        else if (line.startsWith('event:')) name = line.slice(6).trim();
      }
    }
  } catch {
    // aborted, or the connection dropped: the caller resumes
  }
}

function dispatch(event: LiveEvent): void {
  lastEventId = String(event.id);
  for (const listener of listeners) listener(event);
}
