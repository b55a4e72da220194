import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecResult } from '@nagaya/contract';
import { ADMIN_TOKEN, startTestFleet, type TestFleet } from './support/test-server';
import { eventually } from './support/test-helpers';
import type { ApiClient } from '../src/cli/api-client';

const CLI = join(__dirname, '..', 'dist', 'cli', 'nagaya.js');
const run = promisify(execFile);
let fleet: TestFleet;
let p1: ApiClient;

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 4, env: { NAGAYA_EXEC_OUTPUT_LIMIT_BYTES: String(64 * 1024) } });
  await fleet.admin.post('/projects', { name: 'p1' });
  p1 = fleet.admin.withSelection({ project: 'p1' });
  await p1.post('/containers', {
    name: 'box',
    image: 'busybox',
    command: ['/bin/sh', '-c', 'exec sleep 600'],
    env: { GREETING: 'from-the-container', SHARED: 'container-value' },
  });
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
