import type { Request } from 'express';
import { z } from 'zod';
import { dnsLabel } from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import { containerPath } from '../../services/container-file-paths';
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

/** The request body as bytes, refused (413) past `limit` whether or not Content-Length says so. */
async function readBody(req: Request, limit: number): Promise<Buffer> {
  if (Number(req.get('content-length') ?? 0) > limit) throw new NagayaError('PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      req.destroy();
      throw new NagayaError('PAYLOAD_TOO_LARGE', `the body is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
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
      'or a directory as a tar of its tree (application/x-tar; symlinks not followed)',
    role: 'operator',
    scope: 'project',
    success: 200,
    query: filesQuery,
    params: byName,
    handle: async ({ res, deps, actor, scope, query, params }) => {
      const path = containerPath(query.path);
      const file = await deps.containerService.readFile(scope.project, params.name, path, deps.fileCopyLimitBytes, actor);
      if (file.type === 'directory') {
        res.status(200).set('content-type', 'application/x-tar').end(file.data);
        return undefined;
      }
      res
        .status(200)
        .set({
          'content-type': 'application/octet-stream',
          'x-nagaya-mode': file.mode.toString(8).padStart(4, '0'),
          'x-nagaya-uid': String(file.uid),
          'x-nagaya-gid': String(file.gid),
        })
        .end(file.data);
      return undefined;
    },
  }),
  operation({
    method: 'put',
    path: '/containers/{name}/files',
    summary:
      'Write into a running container: the body is one file (x-nagaya-mode, -uid, -gid: container-relative, default 0644 0 0), ' +
      'or with content-type application/x-tar a tar unpacked beneath the directory path',
    role: 'operator',
    scope: 'project',
    success: 200,
    query: filesQuery,
    params: byName,
    handle: async ({ req, deps, actor, scope, query, params }) => {
      const path = containerPath(query.path);
      const body = await readBody(req, deps.fileCopyLimitBytes);
      const isTar = (req.get('content-type') ?? '').split(';')[0]!.trim() === 'application/x-tar';
      const content = isTar
        ? { tar: body }
        : {
            file: body,
            attributes: {
              mode: headerNumber(req, 'x-nagaya-mode', 0o644, 0o7777, 8),
              uid: headerNumber(req, 'x-nagaya-uid', 0, 65535, 10),
              gid: headerNumber(req, 'x-nagaya-gid', 0, 65535, 10),
            },
          };
      return deps.containerService.writeFiles(scope.project, params.name, path, content, deps.fileCopyLimitBytes, actor);
    },
  }),
];
