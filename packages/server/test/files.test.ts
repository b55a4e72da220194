import { execFile, execFileSync } from 'node:child_process';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerView } from '@nagaya/contract';
import { singleFileTarHead } from '@nagaya/native';
import { ADMIN_TOKEN, startTestFleet, type TestFleet } from './support/test-server';
import { eventually, refusal } from './support/test-helpers';
import type { ApiClient } from '../src/cli/api-client';

const CLI = join(__dirname, '..', 'dist', 'cli', 'nagaya.js');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let fleet: TestFleet;
let p1: ApiClient;
let p2: ApiClient;
let p1Viewer: ApiClient;
let work: string;

const LIMIT = 8 * 1024 * 1024;

async function waitState(name: string, states: string[]): Promise<ContainerView> {
  return eventually(async () => {
    const c = await p1.get<ContainerView>(`/containers/${name}`);
    if (c.state === 'failed') throw new Error(`${name} failed: ${JSON.stringify(c.error)}`);
    return states.includes(c.state) ? c : undefined;
  }, 30_000);
}

async function launch(name: string): Promise<ContainerView> {
  await p1.post('/containers', { name, image: 'busybox', command: ['sleep', '600'] });
  return waitState(name, ['running']);
}

const exec = async (name: string, command: string[]) =>
  (await p1.post<{ stdout: string; exitCode: number }>(`/containers/${name}/exec`, { command })).stdout;

/** The container's writable layer on the host (upper/), where its files land with host ids. */
const upperOf = (id: string) => join(fleet.api.worker!.runtime.status(id).dir, 'upper');

/** A PUT of /containers/files/files sent by hand, so that a test can stop sending midway; `answer` is its response (or why none came). */
function startPut(path: string, headers: Record<string, string>): { req: ClientRequest; answer: Promise<IncomingMessage | Error> } {
  const req = request(`${fleet.url}/api/v1/containers/files/files?project=p1&path=${encodeURIComponent(path)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
  });
  const answer = new Promise<IncomingMessage | Error>((resolve) => {
    req.once('response', resolve);
    req.once('error', resolve);
  });
  return { req, answer };
}

/** Writes `bytes` in 64 KiB pieces, each once the last is flushed, unless a response came meanwhile. */
async function send(req: ClientRequest, bytes: Buffer, answered: () => boolean): Promise<void> {
  for (let at = 0; at < bytes.length && !answered() && !req.destroyed; at += 65536) {
    await new Promise<void>((resolve) => req.write(bytes.subarray(at, at + 65536), () => resolve()));
  }
}

/** The temporary files the extractor writes under before renaming a whole file into place. */
const partialsIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.nagaya-partial-')) : []);

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 8, env: { NAGAYA_FILE_COPY_LIMIT_BYTES: String(LIMIT) } });
  await fleet.admin.post('/projects', { name: 'p1' });
  await fleet.admin.post('/projects', { name: 'p2' });
  p1 = fleet.admin.withSelection({ project: 'p1' });
  p2 = fleet.admin.withSelection({ project: 'p2' });
  const token = (await fleet.admin.post<{ token: string }>('/tokens', { name: 'p1-viewer', role: 'viewer', project: 'p1' })).token;
  p1Viewer = fleet.client(token);
  work = mkdtempSync(join(tmpdir(), 'nagaya-files-'));
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('GET/PUT /containers/:name/files', () => {
  let view: ContainerView;
  beforeAll(async () => {
    view = await launch('files');
  }, 60_000);

  it('copies a 3 MiB random binary file in and out, bytes, mode and container-relative owners kept', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    await p1.putBytes('/containers/files/files?path=/tmp/blob.bin', data, {
      'x-nagaya-mode': '0640',
      'x-nagaya-uid': '1000',
      'x-nagaya-gid': '1001',
    });
    const out = await p1.getBytes('/containers/files/files?path=/tmp/blob.bin');
    expect(sha256(out.data)).toBe(sha256(data));
    expect(out.headers.get('content-type')).toBe('application/octet-stream');
    expect([out.headers.get('x-nagaya-mode'), out.headers.get('x-nagaya-uid'), out.headers.get('x-nagaya-gid')]).toEqual([
      '0640',
      '1000',
      '1001',
    ]);
    // inside: as given; on the host: the slice's ids (base + id)
    expect(await exec('files', ['stat', '-c', '%a %u %g', '/tmp/blob.bin'])).toBe('640 1000 1001\n');
    expect((await exec('files', ['sha256sum', '/tmp/blob.bin'])).split(' ')[0]).toBe(sha256(data));
    const onHost = statSync(join(upperOf(view.id), 'tmp', 'blob.bin'));
    const uidBase = view.idmap.uid[0]!.hostId;
    const gidBase = view.idmap.gid[0]!.hostId;
    expect([onHost.uid, onHost.gid]).toEqual([uidBase + 1000, gidBase + 1001]);
    expect(onHost.mode & 0o7777).toBe(0o640);
  }, 60_000);

  it('writes as the container root by default, and overwrites a file already there', async () => {
    await p1.putBytes('/containers/files/files?path=/etc/motd', Buffer.from('first'));
    await p1.putBytes('/containers/files/files?path=/etc/motd', Buffer.from('second'));
    expect(await exec('files', ['sh', '-c', 'cat /etc/motd; echo; stat -c "%a %u %g" /etc/motd'])).toBe('second\n644 0 0\n');
    const onHost = statSync(join(upperOf(view.id), 'etc', 'motd'));
    expect(onHost.uid).toBe(view.idmap.uid[0]!.hostId);
  }, 30_000);

  it('round-trips a directory tree as a tar unpacked beneath the path', async () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'sub', 'deep'), { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'alpha');
    writeFileSync(join(tree, 'sub', 'deep', 'b.bin'), randomBytes(70_000));
    const tar = execFileSync('tar', ['-C', tree, '--owner=0', '--group=0', '-cf', '-', '.']);
    await exec('files', ['mkdir', '/srv']);
    await p1.putBytes('/containers/files/files?path=/srv', tar, { 'content-type': 'application/x-tar' });
    expect(await exec('files', ['cat', '/srv/a.txt'])).toBe('alpha');
    const b = await p1.getBytes('/containers/files/files?path=/srv/sub/deep/b.bin');
    expect(b.data.equals(readFileSync(join(tree, 'sub', 'deep', 'b.bin')))).toBe(true);
    // and out again as a tar: the same tree, a symlink in it sent as a symlink, not followed
    await exec('files', ['ln', '-s', '/etc', '/srv/etc-link']);
    const out = await p1.getBytes('/containers/files/files?path=/srv');
    expect(out.headers.get('content-type')).toBe('application/x-tar');
    const back = join(work, 'tree-back');
    mkdirSync(back);
    execFileSync('tar', ['-C', back, '-xf', '-'], { input: out.data });
    expect(readFileSync(join(back, 'a.txt'), 'utf8')).toBe('alpha');
    expect(readFileSync(join(back, 'sub', 'deep', 'b.bin')).equals(readFileSync(join(tree, 'sub', 'deep', 'b.bin')))).toBe(true);
    expect(readlinkSync(join(back, 'etc-link'))).toBe('/etc');
  }, 30_000);

  it('follows a symlink to / inside the container: /escape/etc/x lands in the container, never on the host', async () => {
    await exec('files', ['ln', '-s', '/', '/escape']);
    const marker = `nagaya-files-test-${process.pid}`;
    await p1.putBytes(`/containers/files/files?path=/escape/etc/${marker}`, Buffer.from('contained'));
    expect(existsSync(`/etc/${marker}`)).toBe(false);
    expect(await exec('files', ['cat', `/etc/${marker}`])).toBe('contained');
    // a read through the same link stays inside too: the container's /etc/hostname, not the host's
    const hostname = await p1.getBytes('/containers/files/files?path=/escape/etc/hostname');
    expect(hostname.data.toString()).toBe(await exec('files', ['cat', '/etc/hostname']));
  }, 30_000);

  it('refuses .. paths, hostile tars, and devices to read', async () => {
    const statusOf = (call: Promise<unknown>) =>
      call.then(
        () => 200,
        (err: { status?: number }) => err.status ?? -1,
      );
    // a tar entry with ../ is refused; a symlink then a file through it is refused, nothing written
    const dotdot = execFileSync('tar', ['-C', work, '-cf', '-', '-P', '--transform', 's|^|../../|', 'tree/a.txt']);
    const trick = join(work, 'trick');
    mkdirSync(trick);
    execFileSync('ln', ['-s', '/', join(trick, 'link')]);
    const first = execFileSync('tar', ['-C', trick, '-cf', '-', 'link']);
    mkdirSync(join(work, 'trick2', 'link', 'etc'), { recursive: true });
    writeFileSync(join(work, 'trick2', 'link', 'etc', 'pwned'), 'x');
    const second = execFileSync('tar', ['-C', join(work, 'trick2'), '-cf', '-', 'link/etc/pwned']);
    // one archive: the symlink entry, then a file beneath it (the first tar without its trailer)
    const combined = Buffer.concat([first.subarray(0, 512), second]);
    const tarHeaders = { 'content-type': 'application/x-tar' };
    expect({
      putDotDot: await statusOf(p1.putBytes('/containers/files/files?path=/tmp/../../etc/x', Buffer.from('x'))),
      getDotDot: await statusOf(p1.getBytes('/containers/files/files?path=/../etc/passwd')),
      relative: await statusOf(p1.getBytes('/containers/files/files?path=tmp/x')),
      device: await statusOf(p1.getBytes('/containers/files/files?path=/dev/null')),
      missing: await statusOf(p1.getBytes('/containers/files/files?path=/nope')),
      tarDotDot: await statusOf(p1.putBytes('/containers/files/files?path=/tmp', dotdot, tarHeaders)),
      tarSymlinkThenFile: await statusOf(p1.putBytes('/containers/files/files?path=/tmp', combined, tarHeaders)),
    }).toEqual({
      putDotDot: 400,
      getDotDot: 400,
      relative: 400,
      device: 400,
      missing: 404,
      tarDotDot: 400,
      tarSymlinkThenFile: 400,
    });
    expect(existsSync('/etc/pwned')).toBe(false);
    expect(await exec('files', ['sh', '-c', 'ls /etc/pwned 2>&1 || true'])).toContain('No such file');
  }, 30_000);

  it('is 404 for another project, 403 for a viewer, 409 for a stopped container, 413 past the limit', async () => {
    expect((await refusal(p2.getBytes('/containers/files/files?path=/etc/hostname'))).status).toBe(404);
    expect((await refusal(p2.putBytes('/containers/files/files?path=/tmp/x', Buffer.from('x')))).status).toBe(404);
    expect((await refusal(p1Viewer.getBytes('/containers/files/files?path=/etc/hostname'))).status).toBe(403);
    expect((await refusal(p1Viewer.putBytes('/containers/files/files?path=/tmp/x', Buffer.from('x')))).status).toBe(403);
    const tooBig = await refusal(p1.putBytes('/containers/files/files?path=/tmp/big', Buffer.alloc(LIMIT + 1)));
    expect(tooBig.status).toBe(413);
    await exec('files', ['dd', 'if=/dev/zero', 'of=/tmp/big', 'bs=1M', 'count=9']);
    expect((await refusal(p1.getBytes('/containers/files/files?path=/tmp/big'))).status).toBe(413);
    await launch('stopped');
    await p1.post('/containers/stopped/stop', { timeoutSeconds: 0 });
    await waitState('stopped', ['stopped', 'exited']);
    expect((await refusal(p1.getBytes('/containers/stopped/files?path=/etc/hostname'))).status).toBe(409);
    expect((await refusal(p1.putBytes('/containers/stopped/files?path=/tmp/x', Buffer.from('x')))).status).toBe(409);
  }, 60_000);

  it('refuses a chunked tar past the limit with 413 while it streams, and leaves no file, not even a partial one', async () => {
    const put = startPut('/tmp', { 'content-type': 'application/x-tar', 'transfer-encoding': 'chunked' });
    let answered = false;
    void put.answer.then(() => (answered = true));
    put.req.write(singleFileTarHead('over.bin', LIMIT + 2 * 1024 * 1024, { mode: 0o644, uid: 0, gid: 0 }));
    await send(put.req, randomBytes(LIMIT + 2 * 1024 * 1024), () => answered);
    const res = await put.answer;
    put.req.destroy();
    expect(res instanceof Error ? res.message : res.statusCode).toBe(413);
    await eventually(async () => (fleet.api.worker!.fileRelays.count === 0 ? true : undefined), 10_000, 'the node ended the copy');
    const tmp = join(upperOf(view.id), 'tmp');
    expect({ file: existsSync(join(tmp, 'over.bin')), partials: partialsIn(tmp) }).toEqual({ file: false, partials: [] });
  }, 60_000);

  it('keeps the old file when its copy is cut off midway (the client leaves), and ends the copy on the node', async () => {
    await p1.putBytes('/containers/files/files?path=/tmp/keep.bin', Buffer.from('old'));
    const tmp = join(upperOf(view.id), 'tmp');
    const size = 6 * 1024 * 1024;
    const put = startPut('/tmp/keep.bin', { 'content-type': 'application/octet-stream', 'content-length': String(size) });
    await send(put.req, randomBytes(size / 2), () => false);
    // the extractor is writing the new bytes under a temporary name, beside the old file
    await eventually(async () => (partialsIn(tmp).length > 0 ? true : undefined), 10_000, 'a partial file');
    put.req.destroy();
    await eventually(async () => (fleet.api.worker!.fileRelays.count === 0 ? true : undefined), 10_000, 'the node ended the copy');
    await eventually(async () => (partialsIn(tmp).length === 0 ? true : undefined), 10_000, 'the partial file removed');
    expect(readFileSync(join(tmp, 'keep.bin'), 'utf8')).toBe('old');
    // and a download the client leaves after its first bytes is ended on the node too
    await exec('files', ['dd', 'if=/dev/urandom', 'of=/tmp/out.bin', 'bs=1M', 'count=7']);
    const controller = new AbortController();
    const response = await fetch(`${fleet.url}/api/v1/containers/files/files?project=p1&path=/tmp/out.bin`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: controller.signal,
    });
    expect(response.headers.get('content-length')).toBe(String(7 * 1024 * 1024));
    await response.body!.getReader().read();
    controller.abort();
    await eventually(async () => (fleet.api.worker!.fileRelays.count === 0 ? true : undefined), 10_000, 'the node ended the download');
  }, 60_000);

  it('refuses a file without a Content-Length (its size heads the tar the extractor takes)', async () => {
    const put = startPut('/tmp/chunked.bin', { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' });
    put.req.end(Buffer.from('chunked'));
    const res = await put.answer;
    expect(res instanceof Error ? res.message : res.statusCode).toBe(400);
  }, 30_000);

  it('nagaya cp copies a file in and out, binary-safe', async () => {
    const data = randomBytes(1024 * 1024 + 7);
    const local = join(work, 'cp-in.bin');
    const back = join(work, 'cp-out.bin');
    writeFileSync(local, data);
    const env = { ...process.env, NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN, NAGAYA_PROJECT: 'p1' };
    // not execFileSync: the server answers from this very process
    await promisify(execFile)('node', [CLI, 'cp', local, 'files:/tmp/cp.bin'], { env });
    await promisify(execFile)('node', [CLI, 'cp', 'files:/tmp/cp.bin', back], { env });
    expect(sha256(readFileSync(back))).toBe(sha256(data));
    expect((await exec('files', ['sha256sum', '/tmp/cp.bin'])).split(' ')[0]).toBe(sha256(data));
    // a directory both ways
    const dirOut = join(work, 'cp-dir');
    await promisify(execFile)('node', [CLI, 'cp', 'files:/srv', dirOut], { env });
    expect(readFileSync(join(dirOut, 'a.txt'), 'utf8')).toBe('alpha');
    await exec('files', ['mkdir', '/srv2']);
    await promisify(execFile)('node', [CLI, 'cp', dirOut, 'files:/srv2'], { env });
    expect(await exec('files', ['cat', '/srv2/a.txt'])).toBe('alpha');
  }, 60_000);
});
