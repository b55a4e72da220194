import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LogStreamMessage } from '../jobs/log-followers';
import { ChannelSubscriber } from './channel-subscriber';

/**
 * The API's side of `logs?follow=1`: one Redis subscriber connection (made on first use) shared by
 * every follow request of this process, each on a channel of its own that the node's follower
 * publishes to. Redis pub/sub and not a direct read, because the API need not run on the
 * container's node; a channel per request, because PUBLISH then tells the node how many listen:
 * when a client leaves, the API unsubscribes and the node's next publish (at most a beat later)
 * reaches nobody, so the node stops without a message of its own.
 */
export class LogStreams {
  private readonly channels: ChannelSubscriber<LogStreamMessage>;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    this.channels = new ChannelSubscriber(redis);
  }

  /** Channels subscribed to now (one per follow request in flight). */
  get subscriptions(): number {
    return this.channels.count;
  }

  /** Subscribes a new channel (the subscription is in place when this resolves) and returns it with its unsubscribe. */
  async open(onMessage: (message: LogStreamMessage) => void): Promise<{ channel: string; close: () => Promise<void> }> {
    const channel = `${this.prefix}:logs:${randomUUID()}`;
    return { channel, close: await this.channels.subscribe(channel, onMessage) };
  }

  /** Closes the subscriber connection (the API is stopping). */
  close(): Promise<void> {
    return this.channels.close();
  }
}
