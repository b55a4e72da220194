// `nagaya images ...`: list, info, import, pull and delete of the project's images. A pull is a
// job on a worker node: the command waits for it and shows its bytes on stderr.
import {
  ApiError,
  archiveBaseName,
  IMAGE_NAME,
  isErrorCode,
  type ImagePullView,
  type ImageView,
  type JobView,
  shortDigest,
} from '@nagaya/contract';
import type { ApiClient } from './api-client';
import { age, bytes, table, type Out } from './format';

/** The options of the images commands, as parseArgs gives them. */
export interface ImageOptions {
  name?: string;
  username?: string;
  'password-stdin'?: boolean;
  quiet?: boolean;
}

const usage = (message: string) => new ApiError(0, 'INVALID_INPUT', message);

/** How often a pull's job is asked how far it got. */
const POLL_MS = 200;

/** The name an imported file's image gets without --name: its file name without its archive suffixes. */
export function imageNameOfFile(file: string): string {
  const name = archiveBaseName(file);
  if (!IMAGE_NAME.test(name)) throw usage(`${JSON.stringify(name)} (from the file name) cannot be an image name: give one with --name`);
  return name;
}

/** A digest as docker shows one (its first 12 hex digits), or - when there is none. */
const digestText = (digest: string | null) => (digest ? shortDigest(digest) : '-');

function showImage(i: ImageView): string {
  const c = i.config;
  return [
    `name:       ${i.name}`,
    `project:    ${i.project}`,
    `format:     ${i.format}`,
    `digest:     ${i.digest ?? '-'}`,
    `reference:  ${i.reference ?? '-'}`,
    `source:     ${i.source}`,
    `size:       ${bytes(i.sizeBytes)} (${i.sizeBytes} bytes)`,
    `nodes:      ${i.nodes.join(', ') || '-'}`,
    `created:    ${i.createdAt} (${age(i.createdAt)} ago)`,
    `entrypoint: ${c.entrypoint ? JSON.stringify(c.entrypoint) : '-'}`,
    `cmd:        ${c.cmd ? JSON.stringify(c.cmd) : '-'}`,
    `workdir:    ${c.workingDir ?? '-'}`,
    `user:       ${c.user ?? '-'}`,
    `env:        ${c.env.length ? '' : '-'}`,
    ...c.env.map((e) => `  ${e}`),
    `layers:     ${i.layers.length ? '(bottom first)' : '- (one directory)'}`,
    ...i.layers.map((l) => `  ${l.diffId}  ${bytes(l.sizeBytes)}`),
  ].join('\n');
}

/** Reads a password from stdin (as `docker login --password-stdin` does): all of it, less one trailing newline. */
async function readPasswordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) throw usage('--password-stdin reads the password from a pipe: echo "$PASSWORD" | nagaya images pull ...');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (!password) throw usage('--password-stdin: stdin was empty');
  return password;
}

/** One line of a pull's progress. */
function progressLine(reference: string, job: JobView): string {
  if (job.bytesTotal === null) return `pulling ${reference}: ${job.state}`;
  return `pulling ${reference}: ${bytes(job.bytesDone ?? 0)} of ${bytes(job.bytesTotal)} (${job.progress}%)`;
}

/** Waits for a pull's job to end, showing its progress on stderr (unless quiet); a failed job is its error. */
async function waitForPull(client: ApiClient, reference: string, jobId: string, quiet: boolean): Promise<void> {
  const tty = process.stderr.isTTY === true;
  let shown = '';
  for (;;) {
    const job = await client.get<JobView>(`/jobs/${encodeURIComponent(jobId)}`);
    const line = progressLine(reference, job);
    if (!quiet && line !== shown && (tty || job.state !== 'active' || (job.bytesDone ?? 0) === job.bytesTotal || job.progress % 10 === 0)) {
      process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
      shown = line;
    }
    if (job.state === 'completed' || job.state === 'failed') {
      if (!quiet && tty) process.stderr.write('\n');
      if (job.state === 'completed') return;
      // the worker's failure reads "CODE: message"; its code decides the exit code
      const m = /^([A-Z_]+): ([\s\S]*)$/.exec(job.error ?? '');
      throw m && isErrorCode(m[1]) ? new ApiError(0, m[1], m[2]!) : new ApiError(0, 'INTERNAL', `the pull failed: ${job.error}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** `nagaya images [list] | info | import | pull | delete`. */
export async function imagesCommand(client: ApiClient, args: string[], options: ImageOptions, all: boolean, out: Out): Promise<void> {
  const [sub = 'list', target] = args;
  if (all && sub !== 'list') throw usage(`images ${sub} acts in one project: --project P, not --all-projects`);
  const named = () => {
    if (!target) throw usage(`images ${sub} needs an image name`);
    return `/images/${encodeURIComponent(target)}`;
  };
  switch (sub) {
    case 'list': {
      const { images } = await client.get<{ images: ImageView[] }>('/images');
      out(images, () =>
        table(
          images.map((i) => ({
            ...i,
            digest: digestText(i.digest),
            size: bytes(i.sizeBytes),
            layers: i.layers.length,
            nodes: i.nodes.join(',') || '-',
          })),
          [...(all ? ['project'] : []), 'name', 'format', 'digest', 'size', 'layers', 'nodes'],
        ),
      );
      return;
    }
    case 'info': {
      const image = await client.get<ImageView>(named());
      out(image, () => showImage(image));
      return;
    }
    case 'import': {
      if (!target) throw usage('images import FILE [--name N]');
      const name = options.name ?? imageNameOfFile(target);
      const type = /\.(t?gz|tar\.gz)$/.test(target) ? 'application/gzip' : 'application/x-tar';
      const image = await client.upload<ImageView>(`/images?name=${encodeURIComponent(name)}`, target, type);
      out(image, () => `image ${image.name} imported into project ${image.project}: ${image.format}, ${bytes(image.sizeBytes)}`);
      return;
    }
    case 'pull': {
      if (!target) throw usage('images pull REF [--name N] [--username U --password-stdin]');
      if (Boolean(options.username) !== Boolean(options['password-stdin'])) throw usage('--username and --password-stdin go together');
      const auth = options.username ? { username: options.username, password: await readPasswordFromStdin() } : undefined;
      const pull = await client.post<ImagePullView>('/images/pull', {
        reference: target,
        ...(options.name ? { name: options.name } : {}),
        ...(auth ? { auth } : {}),
      });
      await waitForPull(client, target, pull.job.id, options.quiet === true);
      const image = await client.get<ImageView>(`/images/${encodeURIComponent(pull.image.name)}`);
      out(image, () => `image ${image.name} pulled into project ${image.project}: ${image.digest}, ${bytes(image.sizeBytes)}`);
      return;
    }
    case 'delete': {
      const res = await client.delete<{ deleted: string; removedLayers: string[] }>(named());
      out(res, () => `image ${res.deleted} deleted (${res.removedLayers.length} layers removed)`);
      return;
    }
    default:
      throw usage(`images ${sub}: use images list, info, import, pull or delete`);
  }
}
