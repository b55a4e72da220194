import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { NagayaError } from '../errors';
import { encodeFileFrame, FILE_CHUNK_BYTES, FILE_SILENCE_MS, type FileFrame } from '../jobs/file-transfer-wire';
import type { ChannelSubscriber } from './channel-subscriber';

/**
 * The API's end of a copy out of a container: the node's `data` frames as a Readable, each
 * acknowledged once this stream has room for more (so the node never runs more than the window
 * ahead of the HTTP client). It ends at the node's `end`, errors at its `error` or after
 * FILE_SILENCE_MS without a frame, and when destroyed (the client left) tells the node to stop.
 */
export async function openFileDownload(redis: Redis, channels: ChannelSubscriber<FileFrame>, channel: string): Promise<Readable> {
  let next = 0;
  let ackDue: number | undefined;
  let ended = false;
  let silence: NodeJS.Timeout | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;
  const ack = (through: number) => void redis.publish(`${channel}:node`, encodeFileFrame({ type: 'ack', through })).catch(() => undefined);
  const body = new Readable({
    highWaterMark: FILE_CHUNK_BYTES,
    read() {
      if (ackDue === undefined) return;
      ack(ackDue);
      ackDue = undefined;
    },
    destroy(err, callback) {
      clearTimeout(silence);
      if (!ended) void redis.publish(`${channel}:node`, encodeFileFrame({ type: 'abort' })).catch(() => undefined);
      void unsubscribe?.();
      callback(err);
    },
  });
  const armSilence = () => {
    clearTimeout(silence);
    silence = setTimeout(
      () => body.destroy(new NagayaError('UNAVAILABLE', `the node sent nothing for ${FILE_SILENCE_MS} ms while copying the file`)),
      FILE_SILENCE_MS,
    );
    silence.unref();
  };
  const onFrame = (frame: FileFrame) => {
    if (body.destroyed || ended) return;
    armSilence();
    if (frame.type === 'data') {
      // a frame lost on the way (a Redis reconnect) would leave a hole in the file
      if (frame.at !== next) return void body.destroy(new NagayaError('UNAVAILABLE', 'a part of the file was lost on the way'));
      next += frame.bytes.length;
      if (body.push(frame.bytes)) ack(next);
      else ackDue = next;
    } else if (frame.type === 'end') {
      ended = true;
      clearTimeout(silence);
      body.push(null);
      void unsubscribe?.();
    } else if (frame.type === 'error') {
      ended = true;
      body.destroy(new NagayaError(frame.code, frame.message));
    }
  };
  unsubscribe = await channels.subscribe(`${channel}:api`, onFrame);
  armSilence();
  return body;
}
