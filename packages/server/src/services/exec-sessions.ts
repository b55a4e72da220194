import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ExecInMessage, ExecOutMessage } from '../jobs/exec-relays';
import { ChannelSubscriber } from './channel-subscriber';

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
  private readonly channels: ChannelSubscriber<ExecOutMessage>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.channels = new ChannelSubscriber(redis);
  }

  /** Sessions relayed now. */
  get count(): number {
    return this.channels.count;
  }

  /** Subscribes a new session's output channel (in place when this resolves). */
  async open(onMessage: (message: ExecOutMessage) => void): Promise<ExecRelayEnd> {
    const channel = `${this.prefix}:exec:${randomUUID()}`;
    const close = await this.channels.subscribe(`${channel}:out`, onMessage);
    return {
      channel,
      send: async (message) => {
        await this.redis.publish(`${channel}:in`, JSON.stringify(message));
      },
      close,
    };
  }

  /** Closes the subscriber connection (the API is stopping). */
  close(): Promise<void> {
    return this.channels.close();
  }
}
