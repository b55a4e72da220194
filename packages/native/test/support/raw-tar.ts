// A tar writer for tests, byte by byte: ustar, GNU ('L'/'K' long names, base-256 numbers) and
// PAX ('x') headers, and the malformed ones a hostile client would send (a wrong checksum, a
// size that lies, an archive cut short). Shared by the native extractor tests and the server's
// image-import tests.

const BLOCK = 512;

export type RawType = 'file' | 'directory' | 'symlink' | 'link' | 'char-device' | 'block-device' | 'fifo';

const TYPEFLAG: Record<RawType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'char-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

export interface RawEntry {
  name: string;
  type?: RawType;
  body?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  /** The ustar prefix field (POSIX only): the path is prefix + '/' + name. */
  prefix?: string;
  /** A PAX 'x' header written before the entry. */
  pax?: Record<string, string>;
  /** Write the name (linkname) in a GNU 'L' ('K') record; the header gets a truncated one. */
  gnuLongName?: boolean;
  gnuLongLink?: boolean;
  /** Numeric fields written in GNU base-256 instead of octal. */
  base256?: Array<'uid' | 'gid' | 'size'>;
  /** The size field, when it should not be the body's length. */
  sizeField?: number;
  /** Device numbers for char and block devices. */
  devmajor?: number;
  devminor?: number;
  badChecksum?: boolean;
  /** A raw typeflag byte, for types the writer has no name for ('S' sparse, ...). */
  typeflag?: string;
}

function octal(value: number, width: number): Buffer {
  const text = value.toString(8).padStart(width - 1, '0');
  if (text.length > width - 1) throw new Error(`${value} does not fit ${width} octal bytes`);
  return Buffer.from(`${text}\0`, 'ascii');
}

function base256(value: number, width: number): Buffer {
  const out = Buffer.alloc(width);
  let v = BigInt(value);
  for (let i = width - 1; i > 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] = 0x80;
  return out;
}

function header(fields: {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  prefix?: string;
  gnu: boolean;
  base256: string[];
  devmajor?: number;
  devminor?: number;
  badChecksum?: boolean;
}): Buffer {
  const h = Buffer.alloc(BLOCK);
  const put = (offset: number, data: Buffer, width: number) => data.copy(h, offset, 0, Math.min(width, data.length));
  const num = (key: string, offset: number, width: number, value: number) =>
    put(offset, fields.base256.includes(key) ? base256(value, width) : octal(value, width), width);
  put(0, Buffer.from(fields.name), 100);
  num('mode', 100, 8, fields.mode);
  num('uid', 108, 8, fields.uid);
  num('gid', 116, 8, fields.gid);
  num('size', 124, 12, fields.size);
  num('mtime', 136, 12, fields.mtime);
  h.write(fields.typeflag, 156, 'latin1');
  put(157, Buffer.from(fields.linkname), 100);
  if (fields.gnu) h.write('ustar  \0', 257, 'latin1');
  else h.write('ustar\u000000', 257, 'latin1');
  if (fields.devmajor !== undefined) num('devmajor', 329, 8, fields.devmajor);
  if (fields.devminor !== undefined) num('devminor', 337, 8, fields.devminor);
  if (fields.prefix) put(345, Buffer.from(fields.prefix), 155);
  return setChecksum(h, fields.badChecksum ? 1 : 0);
}

/** Writes a header block's checksum (off by skew, to make a wrong one); returns the block. */
export function setChecksum(h: Buffer, skew = 0): Buffer {
  h.fill(' ', 148, 156);
  let sum = skew;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

function padded(data: Buffer): Buffer[] {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return pad ? [data, Buffer.alloc(pad)] : [data];
}

/** PAX records: "<length> <key>=<value>\n", the length counting itself. */
export function paxRecords(values: Record<string, string>): Buffer {
  const records = Object.entries(values).map(([key, value]) => {
    const rest = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(rest) + 1;
    while (String(length).length + Buffer.byteLength(rest) !== length) length++;
    return Buffer.from(`${length}${rest}`);
  });
  return Buffer.concat(records);
}

/** The blocks of one entry (with its extension headers). */
export function entryBlocks(e: RawEntry): Buffer {
  const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
  const type = e.type ?? 'file';
  const gnu = Boolean(e.gnuLongName || e.gnuLongLink || e.base256?.length);
  const out: Buffer[] = [];
  const ext = (typeflag: string, data: Buffer, name: string) => {
    out.push(
      header({ name, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0, typeflag, linkname: '', gnu, base256: [] }),
      ...padded(data),
    );
  };
  if (e.pax) ext('x', paxRecords(e.pax), 'PaxHeader');
  if (e.gnuLongName) ext('L', Buffer.from(`${e.name}\0`), '././@LongLink');
  if (e.gnuLongLink) ext('K', Buffer.from(`${e.linkname ?? ''}\0`), '././@LongLink');
  out.push(
    header({
      name: e.gnuLongName ? e.name.slice(0, 99) : e.name,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: e.sizeField ?? body.length,
      mtime: e.mtime ?? 1_700_000_000,
      typeflag: e.typeflag ?? TYPEFLAG[type],
      linkname: e.gnuLongLink ? (e.linkname ?? '').slice(0, 99) : (e.linkname ?? ''),
      prefix: e.prefix,
      gnu,
      base256: e.base256 ?? [],
      devmajor: e.devmajor,
      devminor: e.devminor,
      badChecksum: e.badChecksum,
    }),
  );
  if (body.length) out.push(...padded(body));
  return Buffer.concat(out);
}

/** A whole archive: the entries, then the two zero blocks that end it. */
export function rawTar(entries: RawEntry[], options: { end?: boolean } = {}): Buffer {
  const parts = entries.map(entryBlocks);
  if (options.end ?? true) parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
