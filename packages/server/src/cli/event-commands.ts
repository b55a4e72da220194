import { ApiError } from '@nagaya/contract';
import type { FleetEvent } from '../events/event-hub';
import { openSse } from '../events/sse-client';
import type { ApiClient } from './api-client';

/** How long a dropped stream waits before it resumes (Last-Event-ID: nothing is missed). */
const RESUME_MS = 1000;

/** One event as a line for people: time, type, project/container, what changed. */
export function eventLine(event: FleetEvent): string {
  const p = event.payload;
  const where = event.container ? `${event.project}/${event.container}` : (event.project ?? 'fleet');
  const what = (() => {
    switch (event.type) {
      case 'container.state':
        return `${p.from} -> ${p.state} on ${p.node}`;
      case 'container.created':
      case 'container.deleted':
        return `${p.state} on ${p.node}`;
      case 'job.state':
        return `${p.kind} job ${p.id} ${p.state}${p.error ? `: ${p.error}` : ''}`;
      case 'job.created':
        return `${p.kind} job ${p.id}${p.image ? ` (image ${p.image})` : ''}`;
      case 'node.status':
        return `node ${p.node}: ${p.from} -> ${p.status}`;
      case 'node.joined':
      case 'node.deleted':
        return `node ${p.node} (${p.status})`;
      case 'image.created':
      case 'image.deleted':
        return `image ${p.image}`;
      case 'volume.created':
      case 'volume.deleted':
        return `volume ${p.volume} on ${p.node}`;
      case 'project.created':
      case 'project.updated':
      case 'project.deleted':
        return `project ${p.project}`;
      case 'run.state':
        return `run ${p.id} ${p.from ? `${p.from} -> ` : ''}${p.state}${p.node ? ` on ${p.node}` : ''}${p.exitCode !== undefined ? ` (exit ${p.exitCode})` : ''}`;
      default:
        return JSON.stringify(p);
    }
  })();
  return `${event.at}  ${event.id.toString().padStart(7)}  ${event.type.padEnd(17)}  ${where}  ${what}`;
}

/**
 * Follows GET /events until interrupted, calling `onEvent` for each event once and in order.
 * A stream that ends (the server restarts, drops a slow reader, the network blips) is resumed
 * after RESUME_MS from the last id seen; refusals (a bad filter, no access) end it at once.
 */
export async function followEvents(
  client: ApiClient,
  query: URLSearchParams,
  onEvent: (event: FleetEvent) => void,
  options: { signal?: AbortSignal; onNotice?: (text: string) => void } = {},
): Promise<void> {
  let lastEventId: string | undefined = query.get('since') ?? undefined;
  query.delete('since');
  const url = client.url('GET', `/events${query.size ? `?${query}` : ''}`);
  while (!options.signal?.aborted) {
    try {
      const messages = await openSse(url, client.token, {
        ...(lastEventId ? { lastEventId } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      for await (const message of messages) {
        if (message.event === 'message') {
          const event = JSON.parse(message.data) as FleetEvent;
          lastEventId = String(event.id);
          onEvent(event);
        } else if (message.event === 'truncated') {
          options.onNotice?.(`some events are no longer kept: resuming from the oldest (${message.data})`);
        }
      }
    } catch (err) {
      if (options.signal?.aborted) return;
      if (err instanceof ApiError && err.status !== 0 && err.status < 500) throw err;
      options.onNotice?.(`event stream lost (${(err as Error).message}); resuming`);
    }
    if (options.signal?.aborted) return;
    await new Promise((resolve) => setTimeout(resolve, RESUME_MS));
  }
}

/** `nagaya events [--type T] [--container N] [--since ID] [--json]`: prints events as they come. */
export async function eventsCommand(
  client: ApiClient,
  values: { type?: string; container?: string; since?: string; json?: boolean },
): Promise<void> {
  const query = new URLSearchParams();
  if (values.type) query.set('type', values.type);
  if (values.container) query.set('container', values.container);
  if (values.since) {
    if (!/^\d{1,15}$/.test(values.since))
      throw new ApiError(0, 'INVALID_INPUT', `--since takes an event id, not ${JSON.stringify(values.since)}`);
    query.set('since', values.since);
  }
  await followEvents(client, query, (event) => console.log(values.json ? JSON.stringify(event) : eventLine(event)), {
    onNotice: (text) => console.error(text),
  });
}

/**
 * `list --watch`: draws the table, then again after each container event (changes that come
 * together are drawn once: a redraw already on its way takes them all).
 */
export async function watchTable(client: ApiClient, render: () => Promise<string>): Promise<void> {
  let drawing: Promise<void> | undefined;
  let again = false;
  const draw = (): void => {
    if (drawing) {
      again = true;
      return;
    }
    drawing = render()
      .then((text) => {
        process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
      })
      .catch((err: unknown) => console.error((err as Error).message))
      .finally(() => {
        drawing = undefined;
        if (again) {
          again = false;
          draw();
        }
      });
  };
  draw();
  await followEvents(client, new URLSearchParams({ type: 'container' }), () => draw(), { onNotice: (text) => console.error(text) });
}
