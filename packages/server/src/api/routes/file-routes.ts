import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { dnsLabel } from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import { containerPath } from '../../services/container-file-paths';
import { limitedBody } from '../../services/file-copy-sources';
import { operation, type Operation } from '../operation';

const byName = { name: dnsLabel };
const filesQuery = z.object({ path: z.string().min(1) });

/** A container-relative owner or a mode, from an x-nagaya-* header. */
function headerNumber(req: Request, header: string, fallback: number, max: number, radix: 8 | 10): number {
  const raw = req.get(header);
  if (raw === undefined) return fallback;
  const pattern = radix === 8 ? /^[0-7]{1,5}$/ : /^[0-9]{1,6}$/;
  const value = Number.parseInt(raw, radix);
  if (!pattern.test(raw) || value > max) {
    throw new NagayaError(
      'INVALID_INPUT',
      `${header} must be ${radix === 8 ? 'octal mode bits up to 7777' : `an integer from 0 to ${max}`}, not ${JSON.stringify(raw)}`,
      {
        field: header,
      },
    );
  }
  return value;
}

/**
 * Sends a copy's bytes as they come. Once the status is out a failure can only cut the answer
 * short: the connection is closed before its end (a file's Content-Length, or a tar's missing
 * last chunk, tells the client it is incomplete), and the node's side stops with it.
 */
async function sendBytes(body: Readable, res: Response): Promise<void> {
  try {
    await pipeline(body, res);
  } catch {
    res.destroy();
  }
}

/**
 * /containers/{name}/files: a file copied out of or into a running container (raw bytes, with
 * x-nagaya-mode/uid/gid), or a tar unpacked beneath a directory. Operator for both ways: a
 * container's files hold its secrets.
 */
export const fileOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/containers/{name}/files',
    summary:
      'Read a regular file of a running container (application/octet-stream; x-nagaya-mode, -uid, -gid headers), ' +
      'or a directory as a tar of its tree (application/x-tar; symlinks not followed). Streamed from the node: a file past the limit ' +
      'is 413, a tree that grows past it is cut short (the connection closes before the tar ends)',
    role: 'operator',
    scope: 'project',
    success: 200,
    query: filesQuery,
    params: byName,
    handle: async ({ res, deps, actor, scope, query, params }) => {
      const path = containerPath(query.path);
      const file = await deps.containerFiles.readFile(scope.project, params.name, path, deps.fileCopyLimitBytes, actor);
      if (file.type === 'directory') res.status(200).set('content-type', 'application/x-tar');
      else {
        res.status(200).set({
          'content-type': 'application/octet-stream',
          'content-length': String(file.size),
          'x-nagaya-mode': file.mode.toString(8).padStart(4, '0'),
          'x-nagaya-uid': String(file.uid),
          'x-nagaya-gid': String(file.gid),
        });
      }
      await sendBytes(file.body, res);
      return undefined;
    },
  }),
  operation({
    method: 'put',
    path: '/containers/{name}/files',
    summary:
      'Write into a running container: the body is one file (x-nagaya-mode, -uid, -gid: container-relative, default 0644 0 0; ' +
      'Content-Length required), or with content-type application/x-tar a tar unpacked beneath the directory path (may be chunked). ' +
      'Streamed to the node; a file is renamed into place only once whole',
    role: 'operator',
    scope: 'project',
    success: 200,
    query: filesQuery,
    params: byName,
    handle: async ({ req, res, deps, actor, scope, query, params }) => {
      const path = containerPath(query.path);
      const limit = deps.fileCopyLimitBytes;
      const declared = req.get('content-length');
      if (declared !== undefined && Number(declared) > limit)
        throw new NagayaError('PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`);
      // not destroyed when the copy stops early, so that the answer (a 413) still reaches the client
      const body = limitedBody(req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>, limit);
      const isTar = (req.get('content-type') ?? '').split(';')[0]!.trim() === 'application/x-tar';
      if (!isTar && declared === undefined) {
        throw new NagayaError(
          'INVALID_INPUT',
          'a file needs a Content-Length (its size goes first into the tar the extractor takes); a tar may be sent chunked',
        );
      }
      const content = isTar
        ? { tar: body }
        : {
            file: body,
            size: Number(declared),
            attributes: {
              mode: headerNumber(req, 'x-nagaya-mode', 0o644, 0o7777, 8),
              uid: headerNumber(req, 'x-nagaya-uid', 0, 65535, 10),
              gid: headerNumber(req, 'x-nagaya-gid', 0, 65535, 10),
            },
          };
      try {
        return await deps.containerFiles.writeFiles(scope.project, params.name, path, content, limit, actor);
      } catch (err) {
        // the rest of a body never read is not waited for: the connection closes after the answer
        if (!req.complete) res.set('connection', 'close');
        throw err;
      }
    },
  }),
];
