import type { ErrorCode } from '@nagaya/contract';

/**
 * The frames of one file copy between the API and a container's node, over two Redis pub/sub
 * channels of its own: `<channel>:api` (the node publishes, the API listens) and `<channel>:node`
 * (the other way). A frame is a JSON line, and for `data` the raw bytes after it: no base64, and
 * never more than FILE_CHUNK_BYTES of them, so no Redis message is large whatever the file.
 * The side that sends bytes keeps at most FILE_WINDOW_BYTES of them unacknowledged; the receiver
 * acknowledges what it has passed on (to the extractor's stdin, or to the HTTP client), so a slow
 * end slows the whole chain instead of filling memory anywhere.
 */
export type FileFrame =
  /** Bytes of the file (or tar), in order; `at` is the offset of their first byte. */
  | { type: 'data'; at: number; bytes: Buffer }
  /** The receiver has passed on every byte before `through`. */
  | { type: 'ack'; through: number }
  /** The sender has sent every byte. */
  | { type: 'end' }
  /** The node: the extractor wrote everything it was sent (a copy into the container). */
  | { type: 'done' }
  /** Why the copy failed, as the API answers it. */
  | { type: 'error'; code: ErrorCode; message: string }
  /** The API: the copy is cancelled (the client left, or sent past the limit). */
  | { type: 'abort' }
  /** Nothing new: says the node is still there, and asks Redis whether the API still listens. */
  | { type: 'beat' };

/** The largest payload of one `data` frame. */
export const FILE_CHUNK_BYTES = 256 * 1024;
/** Bytes a sender may have sent that the receiver has not acknowledged. */
export const FILE_WINDOW_BYTES = 2 * 1024 * 1024;
/** How often the node says it is there while a copy is open. */
export const FILE_BEAT_MS = 2_000;
/** The API gives up on a node that sent nothing for this long. */
export const FILE_SILENCE_MS = 15_000;
/** A copy whose bytes stopped moving for this long (a client that neither reads nor sends) is cancelled. */
export const FILE_STALL_MS = 60_000;

/** The frame as one Redis message. */
export function encodeFileFrame(frame: FileFrame): Buffer {
  if (frame.type !== 'data') return Buffer.from(`${JSON.stringify(frame)}\n`);
  return Buffer.concat([Buffer.from(`${JSON.stringify({ type: 'data', at: frame.at })}\n`), frame.bytes]);
}

/** The frame in one Redis message (throws on one that is not a frame). */
export function decodeFileFrame(raw: Buffer): FileFrame {
  const newline = raw.indexOf(0x0a);
  if (newline < 0) throw new Error('not a file frame');
  const head = JSON.parse(raw.subarray(0, newline).toString('utf8')) as FileFrame;
  if (head.type === 'data') return { type: 'data', at: head.at, bytes: raw.subarray(newline + 1) };
  return head;
}
