import { singleFileTarHead, singleFileTarTail, type ContainerFileAttributes } from '@nagaya/native';
import { NagayaError } from '../errors';

/**
 * A request body as it arrives, refused (PAYLOAD_TOO_LARGE) as soon as more than `limit` bytes
 * have come: counted while it streams, whatever Content-Length said (a chunked body has none).
 */
export async function* limitedBody(body: AsyncIterable<Buffer>, limit: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > limit) throw new NagayaError('PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`);
    yield chunk;
  }
}

/**
 * One file's `size` bytes framed as a tar of that file alone, as they stream: the extractor takes
 * nothing else. Bytes that are not `size` (a body cut short) fail the copy rather than pad it.
 */
export async function* singleFileTarStream(
  name: string,
  size: number,
  attributes: ContainerFileAttributes,
  bytes: AsyncIterable<Buffer>,
): AsyncGenerator<Buffer> {
  yield singleFileTarHead(name, size, attributes);
  let total = 0;
  for await (const chunk of bytes) {
    total += chunk.length;
    if (total > size) throw new NagayaError('INVALID_INPUT', `the body is longer than the ${size} bytes it announced`);
    yield chunk;
  }
  if (total !== size) throw new NagayaError('INVALID_INPUT', `the body has ${total} of the ${size} bytes it announced`);
  yield singleFileTarTail(size);
}
