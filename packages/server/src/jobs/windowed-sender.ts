import { NagayaError } from '../errors';
import { FILE_CHUNK_BYTES, FILE_STALL_MS, FILE_WINDOW_BYTES, type FileFrame } from './file-transfer-wire';

/**
 * Sends bytes as `data` frames of at most FILE_CHUNK_BYTES, waiting while FILE_WINDOW_BYTES of
 * them are unacknowledged (the receiver's acks call `acknowledged`). `send` rejects once the copy
 * has failed (`fail`, or a publish refused), and when the receiver acknowledged nothing for
 * FILE_STALL_MS.
 */
export class WindowedSender {
  private sent = 0;
  private acked = 0;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly publish: (frame: FileFrame) => Promise<void>,
    private readonly stallMs = FILE_STALL_MS,
  ) {}

  /** Bytes sent so far. */
  get bytes(): number {
    return this.sent;
  }

  /** Sends `bytes` (split into frames), each frame once the window has room for it. */
  async send(bytes: Buffer): Promise<void> {
    for (let at = 0; at < bytes.length; at += FILE_CHUNK_BYTES) {
      const chunk = bytes.subarray(at, at + FILE_CHUNK_BYTES);
      while (this.sent + chunk.length - this.acked > FILE_WINDOW_BYTES) await this.waitForAck();
      if (this.failure) throw this.failure;
      const offset = this.sent;
      this.sent += chunk.length;
      // not awaited: one connection keeps the frames in order, and waiting for each reply would
      // cost a Redis round trip per frame; the window bounds what is on the way
      this.publish({ type: 'data', at: offset, bytes: chunk }).catch((err: Error) => this.fail(err));
    }
  }

  /** The receiver has passed on every byte before `through`. */
  acknowledged(through: number): void {
    if (through <= this.acked) return;
    this.acked = Math.min(through, this.sent);
    this.wake?.();
  }

  /** Stops the copy: the waiting and every later `send` reject with `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    this.wake?.();
  }

  private async waitForAck(): Promise<void> {
    if (this.failure) throw this.failure;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(
        () => this.fail(new NagayaError('UNAVAILABLE', `the copy stalled: nothing was taken for ${this.stallMs} ms`)),
        this.stallMs,
      );
    });
    clearTimeout(timer);
    this.wake = undefined;
    if (this.failure) throw this.failure;
  }
}
