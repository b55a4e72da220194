/** What a single file written into a container gets: mode bits and container-relative owners. */
export interface ContainerFileAttributes {
  mode: number;
  uid: number;
  gid: number;
}

/** The end of a tar: two zero blocks. */
const TAR_END = Buffer.alloc(1024);

/**
 * What goes before a file's `size` bytes in a tar of that one file named `name` (a PAX header
 * carries the name, so any length fits): the bytes can then stream through, followed by
 * singleFileTarTail(size).
 */
export function singleFileTarHead(name: string, size: number, attributes: ContainerFileAttributes): Buffer {
  const record = (key: string, value: string): Buffer => {
    const body = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(body) + 1;
    while (`${length}${body}`.length !== length) length = Buffer.byteLength(`${length}${body}`);
    return Buffer.from(`${length}${body}`);
  };
  const pax = record('path', name);
  return Buffer.concat([
    header('pax', 'x', pax.length, 0o644, 0, 0),
    pax,
    padding(pax.length),
    header(name.slice(0, 99), '0', size, attributes.mode & 0o7777, attributes.uid, attributes.gid),
  ]);
}

/** What follows a file's `size` bytes in singleFileTarHead's tar: its padding and the tar's end. */
export function singleFileTarTail(size: number): Buffer {
  return Buffer.concat([padding(size), TAR_END]);
}

/** A tar of one regular file named `name`. */
export function singleFileTar(name: string, data: Buffer, attributes: ContainerFileAttributes): Buffer {
  return Buffer.concat([singleFileTarHead(name, data.length, attributes), data, singleFileTarTail(data.length)]);
}

function padding(size: number): Buffer {
  const rest = size % 512;
  return Buffer.alloc(rest === 0 ? 0 : 512 - rest);
}

function header(name: string, typeflag: string, size: number, mode: number, uid: number, gid: number): Buffer {
  const h = Buffer.alloc(512);
  const octal = (value: number, at: number, width: number) => h.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'ascii');
  h.write(name, 0, 100, 'utf8');
  octal(mode, 100, 8);
  octal(uid, 108, 8);
  octal(gid, 116, 8);
  octal(size, 124, 12);
  octal(Math.floor(Date.now() / 1000), 136, 12);
  h.write(typeflag, 156, 1, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}
