import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { decodeFileFrame, type FileFrame } from '../jobs/file-transfer-wire';
import { ChannelSubscriber } from './channel-subscriber';
import { openFileDownload } from './file-download';
import { openFileUpload } from './file-upload';

/**
 * The API's side of file copies (`GET`/`PUT /containers/{name}/files`): one Redis subscriber
 * connection (made on first use) for every copy of this process, a channel pair per copy (see
 * FileRelays, the node's side). Pub/sub in bounded, acknowledged frames, because the API need not
 * run on the container's node and a file may be far larger than any message should be.
 */
export class FileTransferHub {
  private readonly channels: ChannelSubscriber<FileFrame>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.channels = new ChannelSubscriber(redis, decodeFileFrame);
  }

  /** Copies in flight now. */
  get count(): number {
    return this.channels.count;
  }

  /** Subscribes a new copy out of a container; its channel goes to the node, its bytes come out of `body`. */
  async openDownload(): Promise<{ channel: string; body: Readable }> {
    const channel = this.newChannel();
    return { channel, body: await openFileDownload(this.redis, this.channels, channel) };
  }

  /** Subscribes a new copy into a container; its channel goes to the node, the tar goes into `body`. */
  async openUpload(): Promise<{ channel: string; body: Writable }> {
    const channel = this.newChannel();
    return { channel, body: await openFileUpload(this.redis, this.channels, channel) };
  }

  /** Closes the subscriber connection (the API is stopping). */
  close(): Promise<void> {
    return this.channels.close();
  }

  private newChannel(): string {
    return `${this.prefix}:files:${randomUUID()}`;
  }
}
