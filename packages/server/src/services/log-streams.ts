import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LogStreamMessage } from '../jobs/log-followers';

/**
 * The API's side of `logs?follow=1`: one Redis subscriber connection (made on first use) shared by
 * every follow request of this process, each on a channel of its own that the node's follower
 * publishes to. Redis pub/sub and not a direct read, because the API need not run on the
 * container's node; a channel per request, because PUBLISH then tells the node how many listen:
 * when a client leaves, the API unsubscribes and the node's next publish (at most a beat later)
 * reaches nobody, so the node stops without a message of its own.
 */
export class LogStreams {
  private subscriber: Redis | undefined;
  private readonly listeners = new Map<string, (message: LogStreamMessage) => void>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Channels subscribed to now (one per follow request in flight). */
  get subscriptions(): number {
    return this.listeners.size;
  }

  /** Subscribes a new channel (the subscription is in place when this resolves) and returns it with its unsubscribe. */
  async open(onMessage: (message: LogStreamMessage) => void): Promise<{ channel: string; close: () => Promise<void> }> {
    const subscriber = this.connection();
    const channel = `${this.prefix}:logs:${randomUUID()}`;
    this.listeners.set(channel, onMessage);
    const close = async () => {
      if (!this.listeners.delete(channel)) return;
      await subscriber.unsubscribe(channel).catch(() => undefined);
    };
    try {
      await subscriber.subscribe(channel);
    } catch (err) {
      await close();
      throw err;
    }
    return { channel, close };
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
        listener(JSON.parse(text) as LogStreamMessage);
      } catch {
        // not one of ours: ignore it
      }
    });
    this.subscriber = subscriber;
    return subscriber;
  }
}
