import type { Redis } from 'ioredis';

/** A message as JSON text (what logs and exec sessions send). */
const decodeJson = <M>(raw: Buffer): M => JSON.parse(raw.toString('utf8')) as M;

/**
 * One Redis subscriber connection (made on first use) shared by every relay of a process, with
 * one listener per channel: what followed logs, interactive exec sessions and file copies ride on.
 * A message that `decode` refuses (JSON unless told) is ignored: not one of ours.
 */
export class ChannelSubscriber<M> {
  private subscriber: Redis | undefined;
  private readonly listeners = new Map<string, (message: M) => void>();

  constructor(
    private readonly redis: Redis,
    private readonly decode: (raw: Buffer) => M = decodeJson,
  ) {}

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
    subscriber.on('messageBuffer', (channel: Buffer, raw: Buffer) => {
      const listener = this.listeners.get(channel.toString('utf8'));
      if (!listener) return;
      try {
        listener(this.decode(raw));
      } catch {
        // not one of ours: ignore it
      }
    });
    this.subscriber = subscriber;
    return subscriber;
  }
}
