import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { NagayaError } from '../errors';
import { encodeFileFrame, FILE_CHUNK_BYTES, FILE_SILENCE_MS, type FileFrame } from '../jobs/file-transfer-wire';
import { WindowedSender } from '../jobs/windowed-sender';
import type { ChannelSubscriber } from './channel-subscriber';

/**
 * The API's end of a copy into a container: a Writable whose bytes go to the node in `data`
 * frames, never more than the window ahead of the extractor (a write waits for acks, so the
 * request body is read only as fast as the container's disk takes it). It finishes when the node
 * says `done` after the last byte, errors at the node's `error` or after FILE_SILENCE_MS without
 * a frame, and when destroyed before that (the client left, a limit) tells the node to cut the
 * tar short: the extractor then removes the file it was writing.
 */
export async function openFileUpload(redis: Redis, channels: ChannelSubscriber<FileFrame>, channel: string): Promise<Writable> {
  let completed = false;
  let silence: NodeJS.Timeout | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;
  let settle: ((err?: Error) => void) | undefined;
  const toNode = async (frame: FileFrame) => {
    if ((await redis.publish(`${channel}:node`, encodeFileFrame(frame))) === 0) {
      throw new NagayaError('UNAVAILABLE', 'the node no longer listens: it stopped the copy');
    }
  };
  const sender = new WindowedSender(toNode);
  const body = new Writable({
    highWaterMark: FILE_CHUNK_BYTES,
    write(chunk: Buffer, _encoding, callback) {
      sender.send(chunk).then(() => callback(), callback);
    },
    final(callback) {
      if (completed) return callback(); // the node already said done
      settle = (err) => {
        settle = undefined;
        callback(err);
      };
      toNode({ type: 'end' }).catch((err: Error) => settle?.(err));
    },
    destroy(err, callback) {
      clearTimeout(silence);
      sender.fail(err ?? new NagayaError('UNAVAILABLE', 'the copy was cancelled'));
      if (!completed) void toNode({ type: 'abort' }).catch(() => undefined);
      void unsubscribe?.();
      callback(err);
    },
  });
  const armSilence = () => {
    clearTimeout(silence);
    silence = setTimeout(
      () => fail(new NagayaError('UNAVAILABLE', `the node sent nothing for ${FILE_SILENCE_MS} ms while copying the file`)),
      FILE_SILENCE_MS,
    );
    silence.unref();
  };
  const fail = (err: Error) => {
    if (completed) return;
    completed = true; // the node has ended it: nothing to abort
    if (settle) settle(err);
    else body.destroy(err);
  };
  const onFrame = (frame: FileFrame) => {
    armSilence();
    if (frame.type === 'ack') sender.acknowledged(frame.through);
    else if (frame.type === 'error') fail(new NagayaError(frame.code, frame.message));
    else if (frame.type === 'done') {
      completed = true;
      clearTimeout(silence);
      settle?.();
      void unsubscribe?.();
    }
  };
  unsubscribe = await channels.subscribe(`${channel}:api`, onFrame);
  armSilence();
  return body;
}
