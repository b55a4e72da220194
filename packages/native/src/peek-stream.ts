import { Readable } from 'node:stream';

/** Reads the first chunk of a stream (to tell its format by its magic) and returns a stream that still yields it. */
export async function peek(body: Readable): Promise<{ head: Buffer; stream: Readable }> {
  const iterator = body[Symbol.asyncIterator]();
  const first = await iterator.next();
  const head = first.done ? Buffer.alloc(0) : Buffer.from(first.value as Buffer);
  async function* rest() {
    if (head.length) yield head;
    for (;;) {
      const n = await iterator.next();
      if (n.done) return;
      yield n.value as Buffer;
    }
  }
  return { head, stream: Readable.from(rest(), { objectMode: false }) };
}
