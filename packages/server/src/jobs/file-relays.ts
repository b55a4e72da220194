import {
  NativeError,
  openContainerFileRead,
  openContainerWrite,
  type ContainerFileHead,
  type ContainerFileReader,
  type ContainerRuntime,
} from '@nagaya/native';
import type { Redis } from 'ioredis';
import { NagayaError } from '../errors';
import { ChannelSubscriber } from '../services/channel-subscriber';
import { decodeFileFrame, FILE_STALL_MS, type FileFrame } from './file-transfer-wire';
import { FileRelayLink } from './file-relay-link';
import type { FilesReadJobData, FilesWriteJobData } from './job-types';
import { WindowedSender } from './windowed-sender';

/** Entries of one tar copied into a container (the byte limit comes with the request). */
const FILE_COPY_MAX_ENTRIES = 100_000;
/** Copies one node relays at once. */
export const MAX_FILE_RELAYS = 64;

/** The head of a file read out of a container, as the rpc answers it (its bytes follow on the channel). */
export type FileReadStart = ContainerFileHead;

/** A missing path is the caller's NOT_FOUND; every other failure keeps its own code. */
function fileCopyError(err: unknown): unknown {
  if (err instanceof NativeError && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) {
    return new NagayaError('NOT_FOUND', `no such file or directory in the container: ${err.message}`);
  }
  return err;
}

/**
 * The node's side of `GET`/`PUT /containers/{name}/files`: nagaya-extract joins the container's
 * user and mount namespaces (as its init's), so paths resolve beneath the container's own root and
 * owners are the container's; its stdout (a read) or stdin (a write) is relayed in bounded frames
 * over the copy's Redis channels (file-transfer-wire.ts), never held whole. A copy ends when the
 * extractor does, when the API cancels or stops listening, or when its bytes stall.
 */
export class FileRelays {
  private readonly channels: ChannelSubscriber<FileFrame>;
  /** The open copies by channel, each with its cancel. */
  private readonly open = new Map<string, (err: Error) => void>();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly publisher: Redis,
  ) {
    this.channels = new ChannelSubscriber(publisher, decodeFileFrame);
  }

  /** Copies relayed now. */
  get count(): number {
    return this.open.size;
  }

  /** Opens the file and answers its head; its bytes then go out as the API acknowledges them. */
  async startRead(data: FilesReadJobData): Promise<FileReadStart> {
    const pid = this.admit(data.containerId, data.channel);
    const reader = await openContainerFileRead(pid, data.path, data.maxBytes).catch((err: unknown) => {
      throw fileCopyError(err);
    });
    const stop = (err: Error) => {
      sender.fail(err);
      reader.data.destroy(err);
    };
    const link = new FileRelayLink(this.publisher, this.channels, data.channel, stop);
    const sender = new WindowedSender((frame) => link.publish(frame));
    try {
      await link.listen((frame) => {
        if (frame.type === 'ack') sender.acknowledged(frame.through);
        else if (frame.type === 'abort') stop(new NagayaError('UNAVAILABLE', 'the copy was cancelled'));
      });
    } catch (err) {
      reader.data.destroy();
      await link.close();
      throw err;
    }
    this.open.set(data.channel, stop);
    void this.pump(reader, sender, link).finally(() => this.open.delete(data.channel));
    const { data: _bytes, ...head } = reader;
    return head;
  }

  /** Starts the extractor; the tar then comes in frames, each acknowledged once the extractor's stdin has taken it. */
  async startWrite(data: FilesWriteJobData): Promise<{ started: true }> {
    const pid = this.admit(data.containerId, data.channel);
    const writer = openContainerWrite(pid, data.dir, { maxBytes: data.maxBytes, maxEntries: FILE_COPY_MAX_ENTRIES, maxDepth: 128 });
    let received = 0;
    let cancelled = false;
    let stall: NodeJS.Timeout | undefined;
    const stop = () => {
      if (cancelled) return;
      cancelled = true;
      writer.abort();
    };
    const armStall = () => {
      clearTimeout(stall);
      stall = setTimeout(stop, FILE_STALL_MS);
      stall.unref();
    };
    const link = new FileRelayLink(this.publisher, this.channels, data.channel, stop);
    try {
      await link.listen((frame) => {
        armStall();
        if (frame.type === 'abort') return stop();
        if (frame.type === 'end') return void writer.input.end();
        if (frame.type !== 'data' || cancelled) return;
        // a frame lost on the way (a Redis reconnect) would leave a hole in the file
        if (frame.at !== received) return stop();
        received += frame.bytes.length;
        const through = received;
        writer.input.write(frame.bytes, (err) => {
          if (!err) void link.publish({ type: 'ack', through }).catch(() => undefined);
        });
      });
    } catch (err) {
      stop();
      await link.close();
      throw err;
    }
    armStall();
    this.open.set(data.channel, stop);
    void writer.finished
      .then(
        () => link.publish({ type: 'done' }),
        (err: unknown) => link.publishFailure(cancelled ? new NagayaError('UNAVAILABLE', 'the copy was cancelled') : fileCopyError(err)),
      )
      .catch(() => undefined)
      .finally(async () => {
        clearTimeout(stall);
        this.open.delete(data.channel);
        await link.close();
      });
    return { started: true };
  }

  /** Cancels every copy (the worker is closing) and closes the subscriber connection. */
  async close(): Promise<void> {
    for (const cancel of this.open.values()) cancel(new NagayaError('UNAVAILABLE', 'the node is stopping'));
    this.open.clear();
    await this.channels.close();
  }

  /** The running container's init pid, once this copy may start. */
  private admit(containerId: string, channel: string): number {
    const record = this.runtime.status(containerId);
    if (record.state !== 'running' || record.pid === undefined) {
      throw new NagayaError('CONFLICT', 'the container is not running', { state: record.state });
    }
    if (this.open.has(channel)) throw new NagayaError('CONFLICT', 'this copy has already started');
    if (this.open.size >= MAX_FILE_RELAYS) {
      throw new NagayaError('UNAVAILABLE', `this node already relays ${MAX_FILE_RELAYS} file copies; try again when one has ended`);
    }
    return record.pid;
  }

  /** Sends the file's bytes as the window allows, then `end`; or the failure. */
  private async pump(reader: ContainerFileReader, sender: WindowedSender, link: FileRelayLink): Promise<void> {
    try {
      for await (const chunk of reader.data as AsyncIterable<Buffer>) await sender.send(chunk);
      await link.publish({ type: 'end' });
    } catch (err) {
      reader.data.destroy();
      await link.publishFailure(err);
    } finally {
      await link.close();
    }
  }
}
