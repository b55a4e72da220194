import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { openContainerFileRead, openContainerWrite, type ContainerFileHead, type ContainerWriteLimits } from './container-file-streams';

/** A regular file read from inside a container, whole: owners as the container sees them (0..65535). */
export interface ContainerFile extends ContainerFileHead {
  /** A regular file's bytes, or for a directory the tar of its tree. */
  data: Buffer;
}

/**
 * Reads a regular file (or a directory, as a tar of its tree) of the running container whose init
 * is `pid` into memory: openContainerFileRead, collected. For small files; a copy of any size
 * streams with openContainerFileRead itself.
 */
export async function readContainerFile(pid: number, path: string, maxBytes: number): Promise<ContainerFile> {
  const reader = await openContainerFileRead(pid, path, maxBytes);
  const chunks: Buffer[] = [];
  for await (const chunk of reader.data as AsyncIterable<Buffer>) chunks.push(chunk);
  const { data: _stream, ...head } = reader;
  const data = Buffer.concat(chunks);
  return head.type === 'directory' ? { type: 'directory', data, mode: 0, uid: 0, gid: 0 } : { ...head, data };
}

/** Unpacks a tar held in memory into the existing directory `dir` of a running container (openContainerWrite). */
export async function writeIntoContainer(pid: number, dir: string, tar: Buffer, limits: ContainerWriteLimits): Promise<void> {
  const writer = openContainerWrite(pid, dir, limits);
  // the extractor refusing the tar breaks the pipe: its own report, in `finished`, says why
  await Promise.all([pipeline(Readable.from([tar]), writer.input).catch(() => undefined), writer.finished]);
}
