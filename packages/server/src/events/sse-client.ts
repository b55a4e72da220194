import { ApiError, apiErrorOf } from '@nagaya/contract';

/** One Server-Sent Events message: `event` is `message` unless the server named it. */
export interface SseMessage {
  event: string;
  id: string | undefined;
  data: string;
}

/** Splits an SSE byte stream into messages (comments and `retry:` are dropped). */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let message: SseMessage = { event: 'message', id: undefined, data: '' };
  let hasData = false;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let newline = buffer.search(/\r\n|\r|\n/); newline !== -1; newline = buffer.search(/\r\n|\r|\n/)) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (hasData) yield message;
        message = { event: 'message', id: undefined, data: '' };
        hasData = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') {
        message.data = hasData ? `${message.data}\n${value}` : value;
        hasData = true;
      } else if (field === 'event') message.event = value;
      else if (field === 'id') message.id = value;
    }
  }
}

/** Opens an SSE stream with a bearer token (EventSource cannot send one); throws the API's error. */
export async function openSse(
  url: string,
  token: string | undefined,
  options: { lastEventId?: string; signal?: AbortSignal } = {},
): Promise<AsyncGenerator<SseMessage>> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: {
        accept: 'text/event-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(options.lastEventId ? { 'last-event-id': options.lastEventId } : {}),
      },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause;
    throw new ApiError(0, 'UNAVAILABLE', `cannot reach ${url}: ${cause?.message ?? (err as Error).message}`);
  }
  if (!response.ok || !response.body) {
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: the text itself is the message
    }
    throw apiErrorOf(response.status, parsed);
  }
  return parseSse(response.body);
}
