import type { Redis } from 'ioredis';
import { toApiError } from '../api/http-errors';
import { NagayaError } from '../errors';
import type { ChannelSubscriber } from '../services/channel-subscriber';
import { encodeFileFrame, FILE_BEAT_MS, type FileFrame } from './file-transfer-wire';

/**
 * The node's end of one file copy's channel pair: it publishes on `<channel>:api`, listens on
 * `<channel>:node`, and beats every FILE_BEAT_MS. A publish that reaches nobody (the API
 * unsubscribed, or died) or that Redis refuses calls `onGone`, as the exec relays do: nothing
 * outlives its client by more than a beat.
 */
export class FileRelayLink {
  private beat: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(
    private readonly publisher: Redis,
    private readonly channels: ChannelSubscriber<FileFrame>,
    private readonly channel: string,
    private readonly onGone: (err: NagayaError) => void,
  ) {}

  /** Subscribes `<channel>:node` (in place when this resolves) and starts the beats. */
  async listen(onFrame: (frame: FileFrame) => void): Promise<void> {
    this.unsubscribe = await this.channels.subscribe(`${this.channel}:node`, onFrame);
    this.beat = setInterval(() => void this.publish({ type: 'beat' }).catch(() => undefined), FILE_BEAT_MS);
    this.beat.unref();
  }

  /** Publishes a frame to the API; rejects (after calling onGone) when none listens. */
  async publish(frame: FileFrame): Promise<void> {
    let listeners: number;
    try {
      listeners = await this.publisher.publish(`${this.channel}:api`, encodeFileFrame(frame));
    } catch (err) {
      const gone = toApiError(err);
      this.onGone(gone);
      throw gone;
    }
    if (listeners === 0 && !this.closed) {
      const gone = new NagayaError('UNAVAILABLE', 'the copy was given up: its API no longer listens');
      this.onGone(gone);
      throw gone;
    }
  }

  /** Publishes the copy's failure, if anyone still listens. */
  async publishFailure(err: unknown): Promise<void> {
    const e = toApiError(err);
    await this.publish({ type: 'error', code: e.code, message: e.message }).catch(() => undefined);
  }

  /** Stops the beats and unsubscribes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.beat);
    await this.unsubscribe?.();
  }
}
