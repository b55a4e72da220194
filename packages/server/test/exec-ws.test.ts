import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecResult } from '@nagaya/contract';
import { WebSocket } from 'ws';
import { BEARER_SUBPROTOCOL_PREFIX, EXEC_SUBPROTOCOL } from '@nagaya/contract';
import { ADMIN_TOKEN, startTestFleet, type TestFleet } from './support/test-server';
import { eventually } from './support/test-helpers';
import type { ApiClient } from '../src/cli/api-client';

const CLI = join(__dirname, '..', 'dist', 'cli', 'nagaya.js');
const run = promisify(execFile);
let fleet: TestFleet;
let p1: ApiClient;
let viewerToken: string;
let p1Operator: string;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 4, env: { NAGAYA_EXEC_OUTPUT_LIMIT_BYTES: String(64 * 1024) } });
  await fleet.admin.post('/projects', { name: 'p1' });
  p1 = fleet.admin.withSelection({ project: 'p1' });
  await fleet.admin.post('/projects', { name: 'p2' });
  viewerToken = (await fleet.admin.post<{ token: string }>('/tokens', { name: 'p1-viewer', role: 'viewer', project: 'p1' })).token;
  p1Operator = (await fleet.admin.post<{ token: string }>('/tokens', { name: 'p1-operator', role: 'operator', project: 'p1' })).token;
  await fleet.admin.withSelection({ project: 'p2' }).post('/containers', { name: 'other', image: 'busybox', command: ['sleep', '600'] });
  await p1.post('/containers', {
    name: 'box',
    image: 'busybox',
    command: ['/bin/sh', '-c', 'exec sleep 600'],
    env: { GREETING: 'from-the-container', SHARED: 'container-value' },
  });
  // an init in /tmp as 33:34: execs start there as that user unless told otherwise
  await p1.post('/containers', { name: 'shaped', image: 'busybox', command: ['sleep', '600'], workingDir: '/tmp', user: '33:34' });
  await eventually(async () => ((await p1.get<{ state: string }>('/containers/shaped')).state === 'running' ? true : undefined));
  await eventually(async () => {
    const c = await p1.get<{ state: string; error?: unknown }>('/containers/box');
    if (c.state === 'failed') throw new Error(`box failed: ${JSON.stringify(c.error)}`);
    return c.state === 'running' ? c : undefined;
  });
}, 90_000);

afterAll(async () => {
  await fleet?.stop();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('one-shot exec (POST /containers/:name/exec)', () => {
  it('returns binary output byte for byte as base64 (tee copies random bytes to stdout and a file)', async () => {
    const res = await p1.post<ExecResult>('/containers/box/exec', {
      command: ['/bin/sh', '-c', 'head -c 4096 /dev/urandom | tee /tmp/random.bin; sha256sum /tmp/random.bin >&2'],
      encoding: 'base64',
    });
    expect(res.exitCode).toBe(0);
    expect(res.encoding).toBe('base64');
    const bytes = Buffer.from(res.stdout, 'base64');
    expect(bytes.length).toBe(4096);
    expect(Buffer.from(res.stderr, 'base64').toString().split(' ')[0]).toBe(sha256(bytes));
    // the default form is still text (so random bytes are mangled, as before: say so by length)
    const text = await p1.post<ExecResult>('/containers/box/exec', { command: ['cat', '/tmp/random.bin'] });
    expect(text.encoding).toBe('utf8');
    expect(Buffer.from(text.stdout, 'utf8').equals(bytes)).toBe(false);
  }, 30_000);

  it('cuts output at NAGAYA_EXEC_OUTPUT_LIMIT_BYTES and says so', async () => {
    const res = await p1.post<ExecResult>('/containers/box/exec', { command: ['head', '-c', '200000', '/dev/zero'], encoding: 'base64' });
    expect(Buffer.from(res.stdout, 'base64').length).toBe(64 * 1024);
    expect(res.truncated).toBe(true);
  }, 30_000);

  it("inherits the container's env, and the request's env wins where both set one", async () => {
    const res = await p1.post<ExecResult>('/containers/box/exec', {
      command: ['/bin/sh', '-c', 'echo "$GREETING $SHARED $EXTRA"'],
      env: { SHARED: 'request-value', EXTRA: 'extra' },
    });
    expect(res.stdout).toBe('from-the-container request-value extra\n');
  }, 30_000);

  it("runs in the init's directory as its user unless the request names others", async () => {
    const inherited = await p1.post<ExecResult>('/containers/shaped/exec', { command: ['sh', '-c', 'echo "$(pwd) $(id -u):$(id -g)"'] });
    expect(inherited.stdout).toBe('/tmp 33:34\n');
    const overridden = await p1.post<ExecResult>('/containers/shaped/exec', {
      command: ['sh', '-c', 'echo "$(pwd) $(id -u):$(id -g)"'],
      cwd: '/tmp',
      user: { uid: 1000, gid: 1001 },
    });
    expect(overridden.stdout).toBe('/tmp 1000:1001\n');
  }, 30_000);

  it('the CLI passes --env and writes the bytes as they were', async () => {
    const env = { ...process.env, NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN, NAGAYA_PROJECT: 'p1' };
    const withEnv = await run('node', [CLI, 'exec', 'box', '--env', 'SHARED=from-cli', '--', '/bin/sh', '-c', 'echo "$GREETING $SHARED"'], {
      env,
    });
    expect(withEnv.stdout).toBe('from-the-container from-cli\n');
    const binary = await run('node', [CLI, 'exec', 'box', '--', 'cat', '/tmp/random.bin'], { env, encoding: 'buffer' });
    const inside = await p1.post<ExecResult>('/containers/box/exec', { command: ['sha256sum', '/tmp/random.bin'] });
    expect(sha256(binary.stdout)).toBe(inside.stdout.split(' ')[0]);
  }, 30_000);
});

/**
 * A WebSocket exec session, its output collected by stream, with a way to wait for some of it.
 * The token goes as Authorization; null sends none (a browser cannot), `protocols` are offered.
 */
function openSession(query: string, token: string | null = ADMIN_TOKEN, project = 'p1', protocols: string[] = []) {
  const url = `${fleet.url.replace(/^http/, 'ws')}/api/v1/containers/${query}${query.includes('?') ? '&' : '?'}project=${project}`;
  const ws = new WebSocket(url, protocols, { headers: token === null ? {} : { Authorization: `Bearer ${token}` } });
  const out = { stdout: '', stderr: '' };
  const control: Array<Record<string, unknown>> = [];
  ws.on('message', (data: Buffer, binary) => {
    if (!binary) return void control.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
    out[data[0] === 2 ? 'stderr' : 'stdout'] += data.subarray(1).toString('utf8');
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
  const closed = new Promise<Array<Record<string, unknown>>>((resolve) => ws.once('close', () => resolve(control)));
  const waitFor = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout') =>
    eventually(async () => out[stream].match(pattern) ?? undefined, 10_000);
  return { ws, out, opened, closed, waitFor };
}

describe('interactive exec (GET /containers/:name/exec over WebSocket)', () => {
  it('echoes stdin back through cat, and delivers the exit code after stdin ends', async () => {
    const s = openSession('box/exec?command=cat');
    await s.opened;
    s.ws.send(Buffer.from('hello over a websocket\n'));
    await s.waitFor(/hello over a websocket\n/);
    s.ws.send(JSON.stringify({ type: 'eof' }));
    const control = await s.closed;
    expect(control).toEqual([{ type: 'exit', exitCode: 0, signal: null, timedOut: false }]);
  }, 30_000);

  it("starts in the init's directory as its user", async () => {
    const s = openSession(`shaped/exec?command=sh&command=-c&command=${encodeURIComponent('echo "$(pwd) $(id -u):$(id -g)"')}`);
    await s.closed;
    expect(s.out.stdout).toBe('/tmp 33:34\n');
  }, 30_000);

  it('keeps stdout and stderr apart without a tty, and says a non-zero exit', async () => {
    const s = openSession(`box/exec?command=sh&command=-c&command=${encodeURIComponent('echo out; echo err >&2; exit 3')}`);
    const control = await s.closed;
    expect(s.out).toEqual({ stdout: 'out\n', stderr: 'err\n' });
    expect(control.at(-1)).toMatchObject({ type: 'exit', exitCode: 3 });
  }, 30_000);

  it('gives a tty the size asked, resizes it, and inherits the env (the first message names the session)', async () => {
    const s = openSession('box/exec');
    await s.opened;
    s.ws.send(JSON.stringify({ command: ['sh'], tty: true, rows: 30, cols: 90, env: { EXTRA: 'x1' } }));
    s.ws.send(Buffer.from('tty; stty size; echo "$GREETING-$EXTRA"\n'));
    await s.waitFor(/\/dev\/pts\/\d+\r?\n/);
    await s.waitFor(/30 90\r?\n/);
    await s.waitFor(/from-the-container-x1\r?\n/);
    s.ws.send(JSON.stringify({ type: 'resize', rows: 50, cols: 160 }));
    s.ws.send(Buffer.from('stty size; exit 5\n'));
    const control = await s.closed;
    expect(s.out.stdout).toMatch(/50 160\r?\n/);
    expect(control.at(-1)).toMatchObject({ type: 'exit', exitCode: 5 });
  }, 30_000);

  it('refuses a viewer token (403) and another project’s container (404) before any upgrade', async () => {
    await expect(openSession('box/exec?command=id', viewerToken).opened).rejects.toMatchObject({ status: 403 });
    await expect(openSession('other/exec?command=id', p1Operator, 'p2').opened).rejects.toMatchObject({ status: 404 });
    // the same token in its own project gets in: the 404 above is the project, not the token
    const own = openSession('box/exec?command=true', p1Operator);
    await own.opened;
    expect((await own.closed).at(-1)).toMatchObject({ type: 'exit', exitCode: 0 });
    await expect(openSession('nosuch/exec?command=id').opened).rejects.toMatchObject({ status: 404 });
  }, 30_000);

  it('kills the session’s process when the client disconnects (no leak)', async () => {
    const s = openSession(`box/exec?tty=1&command=sh&command=-c&command=${encodeURIComponent('echo pid=$$; exec sleep 1000')}`);
    const pid = (await s.waitFor(/pid=(\d+)/))[1];
    const alive = async () =>
      (
        await p1.post<ExecResult>('/containers/box/exec', {
          command: ['sh', '-c', `kill -0 ${pid} 2>/dev/null && echo alive || echo gone`],
        })
      ).stdout;
    expect(await alive()).toBe('alive\n');
    s.ws.terminate();
    await eventually(async () => ((await alive()) === 'gone\n' ? true : undefined), 10_000);
  }, 30_000);
});

/** The Sec-WebSocket-Protocol entry a browser carries its token in. */
const bearer = (token: string) => BEARER_SUBPROTOCOL_PREFIX + Buffer.from(token).toString('base64url');

describe('a browser’s session: the token as a subprotocol (no Authorization header)', () => {
  it('runs with the token beside nagaya.exec.v1, and the server echoes nagaya.exec.v1, never the token', async () => {
    let echoed: string | string[] | undefined;
    const s = openSession('box/exec?command=id', null, 'p1', [EXEC_SUBPROTOCOL, bearer(ADMIN_TOKEN)]);
    s.ws.once('upgrade', (res) => (echoed = res.headers['sec-websocket-protocol']));
    await s.opened;
    expect(echoed).toBe(EXEC_SUBPROTOCOL);
    expect(s.ws.protocol).toBe(EXEC_SUBPROTOCOL);
    expect((await s.closed).at(-1)).toMatchObject({ type: 'exit', exitCode: 0 });
    expect(s.out.stdout).toMatch(/^uid=0\(root\) gid=0\(root\)/);
    // a token of one project, in any order of the entries
    const own = openSession('box/exec?command=true', null, 'p1', [bearer(p1Operator), EXEC_SUBPROTOCOL]);
    await own.opened;
    expect(own.ws.protocol).toBe(EXEC_SUBPROTOCOL);
    expect((await own.closed).at(-1)).toMatchObject({ type: 'exit', exitCode: 0 });
  }, 30_000);

  it('refuses before the upgrade: no token, a wrong, malformed or doubled one 401, a viewer 403, another project’s container 404', async () => {
    const refused = (query: string, protocols: string[], project = 'p1') => openSession(query, null, project, protocols).opened;
    await expect(refused('box/exec?command=id', [EXEC_SUBPROTOCOL])).rejects.toMatchObject({ status: 401 });
    await expect(refused('box/exec?command=id', [])).rejects.toMatchObject({ status: 401 });
    await expect(refused('box/exec?command=id', [EXEC_SUBPROTOCOL, bearer('not-a-token')])).rejects.toMatchObject({ status: 401 });
    // "." is no base64url character
    await expect(refused('box/exec?command=id', [EXEC_SUBPROTOCOL, `${BEARER_SUBPROTOCOL_PREFIX}a.b`])).rejects.toMatchObject({
      status: 401,
    });
    await expect(refused('box/exec?command=id', [EXEC_SUBPROTOCOL, bearer(ADMIN_TOKEN), bearer(viewerToken)])).rejects.toMatchObject({
      status: 401,
    });
    await expect(refused('box/exec?command=id', [EXEC_SUBPROTOCOL, bearer(viewerToken)])).rejects.toMatchObject({ status: 403 });
    await expect(refused('other/exec?command=id', [EXEC_SUBPROTOCOL, bearer(p1Operator)], 'p2')).rejects.toMatchObject({ status: 404 });
    // the token alone, without the subprotocol the server would echo: a browser would fail the handshake after the start
    await expect(refused('box/exec?command=id', [bearer(ADMIN_TOKEN)])).rejects.toMatchObject({ status: 400 });
  }, 30_000);

  it('counts the subprotocol token on WebSocket upgrades only: a plain GET with it is 401', async () => {
    // node:http, which sends every header it is given (a fetch may drop Sec-* ones)
    const statusOf = (headers: Record<string, string>) =>
      new Promise<number | undefined>((resolve, reject) =>
        httpGet(`${fleet.url}/api/v1/containers/box?project=p1`, { headers }, (res) => {
          res.resume();
          resolve(res.statusCode);
        }).on('error', reject),
      );
    expect(await statusOf({ 'Sec-WebSocket-Protocol': `${EXEC_SUBPROTOCOL}, ${bearer(ADMIN_TOKEN)}` })).toBe(401);
    expect(await statusOf({ Authorization: `Bearer ${ADMIN_TOKEN}` })).toBe(200);
  });
});

describe('nagaya exec -it, driven through a pty (script)', () => {
  it('gives a shell: the terminal size is sent and follows a resize (SIGWINCH), Ctrl-C interrupts sleep in the container, the exit code comes back', async () => {
    const env = { ...process.env, NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN, NAGAYA_PROJECT: 'p1' };
    // script gives the CLI a pty of 33×99 as its terminal; the CLI puts it in raw mode
    const child = spawn('script', ['-qefc', `stty rows 33 cols 99; exec node ${CLI} exec -it box -- sh`, '/dev/null'], { env });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const seen = (pattern: RegExp) =>
      eventually(async () => pattern.exec(output) ?? undefined, 15_000, String(pattern)).catch((err: Error) => {
        throw new Error(`${err.message}; the terminal showed ${JSON.stringify(output)}`);
      });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stdin.write('stty size; echo "$GREETING"\n');
    await seen(/33 99\r*\n/);
    await seen(/from-the-container\r*\n/);
    // the terminal is resized (as a window would be): the kernel sends the CLI SIGWINCH, the CLI sends the size
    const cli = (await run('pgrep', ['-P', String(child.pid)])).stdout.trim();
    const terminal = readlinkSync(`/proc/${cli}/fd/1`);
    await run('stty', ['-F', terminal, 'rows', '50', 'cols', '150']);
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.write('stty size\n');
    await seen(/50 150\r*\n/);
    child.stdin.write('sleep 100\n');
    await new Promise((r) => setTimeout(r, 500));
    child.stdin.write('\x03'); // Ctrl-C: raw mode here, so it reaches the container's pty as ^C
    child.stdin.write('echo "status=$?"\n'); // sleep died of SIGINT: 130, long before its 100 s
    await seen(/status=130/);
    child.stdin.write('exit 4\n');
    expect(await exited).toBe(4);
  }, 40_000);
});
