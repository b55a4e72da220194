// A pass-through stream that hashes and counts what flows through it, and stops the flow at a
// limit: digests are checked on the bytes actually read, never on what a descriptor claims.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback, Writable } from 'node:stream';

import { NativeError } from '../errors';

/**
 * Hashes (sha256) and counts the bytes that pass; more than limit bytes fail with
 * PAYLOAD_TOO_LARGE. With hashing false it only counts and bounds (a hash nobody reads costs a
 * pass over every byte).
 */
export class HashingTap extends Transform {
  private readonly hash: Hash | undefined;
  bytes = 0;
  /** The first bytes that passed, to tell a format by its magic. */
  head = Buffer.alloc(0);

  constructor(
    private readonly limit: number,
    private readonly what: string,
    hashing = true,
  ) {
    super();
    this.hash = hashing ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(new NativeError(`${this.what} is larger than ${this.limit} bytes`, { code: 'PAYLOAD_TOO_LARGE' }));
      return;
    }
    this.hash?.update(chunk);
    if (this.head.length < 16) this.head = Buffer.concat([this.head, chunk.subarray(0, 16 - this.head.length)]);
    done(null, chunk);
  }

  /** The digest, "sha256:<hex>", of everything that passed (call once, after the end). */
  digest(): string {
    if (!this.hash) throw new Error(`${this.what} was counted, not hashed`);
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** A sink that drops what it is given: the end of a pipeline that only hashes (or counts) its bytes. */
export function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
}
