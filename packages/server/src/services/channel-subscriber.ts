import type { Redis } from 'ioredis';

/**
 * One Redis subscriber connection (made on first use) shared by every relay of this API process,
 * with one listener per channel: what followed logs and interactive exec sessions both ride on.
 * A message that is not JSON is ignored (not one of ours).
 */
export class ChannelSubscriber<M> {
  private subscriber: Redis | undefined;
  private readonly listeners = new Map<string, (message: M) => void>();

  constructor(private readonly redis: Redis) {}

  /** Channels subscribed to now. */
  get count(): number {
    return this.listeners.size;
  }

  /** Subscribes `channel` (in place when this resolves) and returns its unsubscribe. */
  async subscribe(channel: string, onMessage: (message: M) => void): Promise<() => Promise<void>> {
    const subscriber = this.connection();
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
    return close;
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
        listener(JSON.parse(text) as M);
      } catch {
        // not one of ours: ignore it
      }
    });
    this.subscriber = subscriber;
    return subscriber;
  }
}
