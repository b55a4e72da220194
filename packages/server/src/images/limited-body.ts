import type { Readable } from 'node:stream';
import { NagayaError } from '../errors';

/** How much of a refused upload is still read so that the client gets the answer. */
const DRAIN_BYTES = 16 * 1024 * 1024;

/**
 * A request body read through its iterator, failing with PAYLOAD_TOO_LARGE past limit bytes.
 * The iterator is never returned, so a refusal does not destroy the request and its socket,
 * which the error response still needs.
 */
export class LimitedBody {
  private readonly iterator: AsyncIterator<Buffer>;
  private received = 0;

  constructor(
    body: Readable,
    private readonly limit: number,
  ) {
    this.iterator = body[Symbol.asyncIterator]();
  }

  async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      const next = await this.iterator.next();
      if (next.done) return;
      this.received += next.value.length;
      if (this.received > this.limit) throw new NagayaError('PAYLOAD_TOO_LARGE', `the image is larger than ${this.limit} bytes`);
      yield next.value;
    }
  }

  /**
   * Reads and drops what the client still sends (up to the limit, and at most DRAIN_BYTES more)
   * before an error is answered: a server that closes a socket with unread data resets it, and
   * the client would see ECONNRESET instead of the answer. Past that the client gets the reset.
   */
  async discardRest(): Promise<void> {
    const stopAt = Math.min(this.received, this.limit) + DRAIN_BYTES;
    while (this.received <= stopAt) {
      const next = await this.iterator.next();
      if (next.done) return;
      this.received += next.value.length;
    }
  }
}
