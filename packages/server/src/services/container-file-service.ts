import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContainerFileAttributes } from '@nagaya/native';
import type { FileReadStart } from '../jobs/file-relays';
import type { JobQueues } from '../jobs/job-queues';
import type { AuditStore } from '../store/audit-store';
import type { TokenIdentity } from '../store/token-store';
import { splitContainerPath } from './container-file-paths';
import type { ContainerTargets } from './container-targets';
import { singleFileTarStream } from './file-copy-sources';
import type { FileTransferHub } from './file-transfers';

/** How long a node may take to open a file copy (its bytes then take as long as they take). */
const FILE_COPY_START_MS = 30_000;

export interface ContainerFileServiceDeps {
  /** Finds the running container and refuses one that is not, or whose node is offline. */
  targets: ContainerTargets;
  queues: JobQueues;
  audit: AuditStore;
  transfers: FileTransferHub;
}

/**
 * Files copied out of and into running containers (`GET`/`PUT /containers/{name}/files`): the
 * node's extractor does the reading and writing beneath the container's root; this side starts the
 * copy with an rpc to the container's node and streams its bytes through the FileTransferHub.
 */
export class ContainerFileService {
  constructor(private readonly deps: ContainerFileServiceDeps) {}

  /**
   * Opens one regular file (or a directory, as a tar of its tree) of a running container on its
   * node, owners as the container sees them: resolves with its head once the node has opened it,
   * its bytes then stream out of `body` (FileTransferHub). `path` is normalised (containerPath);
   * the node resolves it beneath the container's root.
   */
  async readFile(
    project: string,
    name: string,
    path: string,
    maxBytes: number,
    actor: TokenIdentity,
  ): Promise<FileReadStart & { body: Readable }> {
    const row = await this.deps.targets.requireRunningOnline(project, name);
    await this.deps.audit.record(actor, project, 'container.file-read', name, { path });
    const download = await this.deps.transfers.openDownload();
    try {
      const head = await this.deps.queues.call<FileReadStart>(
        row.node,
        { kind: 'files-read', containerId: row.id, path, maxBytes, channel: download.channel },
        FILE_COPY_START_MS,
      );
      return { ...head, body: download.body };
    } catch (err) {
      download.body.destroy();
      throw err;
    }
  }

  /**
   * Writes into a running container, on its node, through the safe extractor: one file at `path`
   * (its directory must exist) from `size` bytes of `file`, or with `tar` the archive unpacked
   * beneath the directory `path`. The bytes stream through as the container's disk takes them;
   * resolves once all are written. A failure midway leaves no file half-written (the extractor
   * writes each under a temporary name and renames it into place whole).
   */
  async writeFiles(
    project: string,
    name: string,
    path: string,
    content: { file: AsyncIterable<Buffer>; size: number; attributes: ContainerFileAttributes } | { tar: AsyncIterable<Buffer> },
    maxBytes: number,
    actor: TokenIdentity,
  ): Promise<{ written: true }> {
    const row = await this.deps.targets.requireRunningOnline(project, name);
    let dir = path;
    let tar: AsyncIterable<Buffer>;
    if ('tar' in content) tar = content.tar;
    else {
      const split = splitContainerPath(path);
      dir = split.dir;
      tar = singleFileTarStream(split.name, content.size, content.attributes, content.file);
    }
    await this.deps.audit.record(actor, project, 'container.file-write', name, { path, bytes: 'size' in content ? content.size : null });
    const upload = await this.deps.transfers.openUpload();
    try {
      await this.deps.queues.call(
        row.node,
        // the tar's headers and padding on top of the limit
        { kind: 'files-write', containerId: row.id, dir, maxBytes: maxBytes + 1024 * 1024, channel: upload.channel },
        FILE_COPY_START_MS,
      );
    } catch (err) {
      upload.body.destroy();
      throw err;
    }
    await pipeline(tar, upload.body);
    return { written: true };
  }
}
