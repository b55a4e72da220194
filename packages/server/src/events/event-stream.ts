import type { Response } from 'express';
import type { EventHub, FleetEvent } from './event-hub';

/** Bytes a stream may have waiting for its client before the client is dropped as too slow. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Live events a stream may hold while it still sends its backlog. */
const MAX_QUEUED_EVENTS = 10_000;
/** Backlog rows read per query. */
const BACKLOG_PAGE = 500;

/** Which events one stream sends. */
export type EventFilter = (event: FleetEvent) => boolean;

/** One event as an SSE message: its id (for Last-Event-ID) and the event as JSON. */
export function sseFrame(event: FleetEvent): string {
  return `id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * Answers a request with a Server-Sent Events stream: the events after `since` that the hub
 * still keeps (the backlog), then live ones, each once and in id order; a comment every
 * heartbeat. A client that falls more than MAX_BUFFERED_BYTES behind gets a last `overflow`
 * event naming the last id it was sent, and the stream ends: it resumes from there, so memory
 * never grows with a slow reader. Everything the stream holds (subscription, timer) is let go
 * when the connection closes, whoever closes it.
 */
export async function streamEvents(
  res: Response,
  hub: EventHub,
  filter: EventFilter,
  since: number | undefined,
  maxBufferedBytes = MAX_BUFFERED_BYTES,
): Promise<void> {
  await hub.ready;
  let closed = false;
  let live = false;
  let lastSentId = since ?? 0;
  const queued: FleetEvent[] = [];

  const subscription = hub.subscribe((event) => {
    if (closed || !filter(event)) return;
    if (live) send(event);
    else if (queued.push(event) > MAX_QUEUED_EVENTS) drop('the backlog took too long');
  });
  const from = since ?? subscription.after;

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 1000\n: nagaya events\n\n');
  hub.openStreams += 1;
  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), hub.heartbeatMs);

  const finish = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    hub.openStreams -= 1;
    subscription.unsubscribe();
    queued.length = 0;
  };
  // the connection closing, whoever closes it (a request's own 'close' comes once it is read)
  res.on('close', finish);

  function send(event: FleetEvent): void {
    if (closed || event.id <= lastSentId) return;
    res.write(sseFrame(event));
    lastSentId = event.id;
    if (res.writableLength > maxBufferedBytes) drop('the client reads too slowly');
  }

  function drop(reason: string): void {
    if (closed) return;
    res.write(`event: overflow\ndata: ${JSON.stringify({ reason, lastEventId: lastSentId })}\n\n`);
    finish();
    res.end();
  }

  try {
    if (from < subscription.after) {
      const oldest = await hub.oldestId();
      if (oldest !== undefined && oldest > from + 1) {
        res.write(`event: truncated\ndata: ${JSON.stringify({ oldestId: oldest, since: from })}\n\n`);
      }
      let after = from;
      while (!closed) {
        const page = await hub.read(after, subscription.after, BACKLOG_PAGE);
        for (const event of page) if (filter(event)) send(event);
        if (page.length < BACKLOG_PAGE) break;
        after = page[page.length - 1]!.id;
        // the backlog is read as the client takes it, so it never piles up here
        if (res.writableLength > 0 && !closed) await drained(res);
      }
    }
    live = true;
    for (const event of queued.splice(0)) send(event);
  } catch (err) {
    finish();
    res.end();
    throw err;
  }
}

/** Resolves when the response's buffer has drained or the connection has closed. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
