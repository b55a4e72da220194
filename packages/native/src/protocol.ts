/**
 * The launcher's wire format (see src/launcher/protocol.h): one SOCK_SEQPACKET message of
 * NUL-terminated "key=value" fields, repeated keys for lists, and an empty field before an
 * optional binary payload.
 */
export type Field = readonly [key: string, value: string | number];

export interface DecodedMessage {
  get(key: string): string | undefined;
  all(key: string): string[];
  payload: Buffer;
}

/** Encodes fields into one launcher message; rejects values containing NUL. */
export function encodeMessage(fields: readonly Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of fields) {
    const text = `${key}=${value}`;
    if (text.includes('\0')) throw new Error(`field ${key} contains NUL`);
    parts.push(Buffer.from(text, 'utf8'), Buffer.alloc(1));
  }
  return Buffer.concat(parts);
}

/** Decodes a launcher message into its fields and payload. */
export function decodeMessage(buf: Buffer): DecodedMessage {
  const fields = new Map<string, string[]>();
  let pos = 0;
  let payload: Buffer = Buffer.alloc(0);
  while (pos < buf.length) {
    const end = buf.indexOf(0, pos);
    if (end < 0) break;
    if (end === pos) {
      payload = buf.subarray(end + 1);
      break;
    }
    const text = buf.toString('utf8', pos, end);
    const eq = text.indexOf('=');
    if (eq > 0) {
      const key = text.slice(0, eq);
      const list = fields.get(key) ?? [];
      list.push(text.slice(eq + 1));
      fields.set(key, list);
    }
    pos = end + 1;
  }
  return {
    get: (key) => fields.get(key)?.[0],
    all: (key) => fields.get(key) ?? [],
    payload,
  };
}
