import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ExecInMessage, ExecOutMessage } from '../jobs/exec-relays';

/** An interactive exec session's relay as the API holds it. */
export interface ExecRelayEnd {
  channel: string;
  /** Sends input, a resize, or the client's leaving to the node. */
  send(message: ExecInMessage): Promise<void>;
  /** Unsubscribes (the node's next publish then reaches nobody and it kills the session). */
  close(): Promise<void>;
}

/**
 * The API's side of interactive exec sessions: one Redis subscriber connection (made on first
 * use) for every session of this process, a channel pair per session (see ExecRelays, the node's
 * side). Pub/sub, as for `logs?follow=1`, because the API need not run on the container's node,
 * and its publish counts double as liveness both ways: the node stops when nobody listens, and
 * the API gives up on a node whose beats stop.
 */
export class ExecSessionHub {
  private subscriber: Redis | undefined;
  private readonly listeners = new Map<string, (message: ExecOutMessage) => void>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Sessions relayed now. */
  get count(): number {
    return this.listeners.size;
  }

  /** Subscribes a new session's output channel (in place when this resolves). */
  async open(onMessage: (message: ExecOutMessage) => void): Promise<ExecRelayEnd> {
    const subscriber = this.connection();
    const channel = `${this.prefix}:exec:${randomUUID()}`;
    const outChannel = `${channel}:out`;
    this.listeners.set(outChannel, onMessage);
    const close = async () => {
      if (!this.listeners.delete(outChannel)) return;
      await subscriber.unsubscribe(outChannel).catch(() => undefined);
    };
    try {
      await subscriber.subscribe(outChannel);
    } catch (err) {
      await close();
      throw err;
    }
    return {
      channel,
      send: async (message) => {
        await this.redis.publish(`${channel}:in`, JSON.stringify(message));
      },
      close,
    };
  }

  /** Closes the subscriber connection (the API is stopping). */
  async close(): Promise<void> {
    this.listeners.clear();
    await this.subscriber?.quit().catch(() => undefined);
    this.subscriber = undefined;
  }

  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    const subscriber = this.redis.duplicate({ lazyConnect: false, enableOfflineQueue: true });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string, text: string) => {
      const listener = this.listeners.get(channel);
      if (!listener) return;
      try {
        listener(JSON.parse(text) as ExecOutMessage);
      } catch {
        // not one of ours: ignore it
      }
    });
    this.subscriber = subscriber;
    return subscriber;
  }
}
