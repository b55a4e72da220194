import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestFleet, type TestFleet } from './support/test-server';
import { eventually } from './support/test-helpers';
import { testRedisUrl } from '../../allocator/test/support/test-services';
import { CLI, childEnv } from '../../../e2e/support/system';

let fleet: TestFleet;

// The API alone in one process and the containers on a worker node of its own: a followed log
// travels from the node's follower to the API through Redis, as between two hosts. A small
// console cap, so that a log rotates while it is followed.
const CAP = 64 * 1024;
beforeAll(async () => {
  fleet = await startTestFleet({ role: 'api', slices: 8, env: { NAGAYA_CONSOLE_LOG_MAX_BYTES: String(CAP) } });
  await fleet.addWorker('node-w');
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
});

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)$/;

/** The ns since the epoch of an RFC 3339 time with nanoseconds. */
function nsOf(stamp: string): bigint {
  return BigInt(Date.parse(`${stamp.slice(0, 19)}Z`)) * 1_000_000n + BigInt(stamp.slice(20, 29));
}

/** A streaming GET of the API: what arrived (with when), and whether the server ended it. */
function stream(path: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const chunks: Array<{ at: number; text: string }> = [];
  let status = 0;
  let contentType = '';
  const done = (async () => {
    const response = await fetch(`${fleet.url}/api/v1${path}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
      signal: abort.signal,
    });
    status = response.status;
    contentType = response.headers.get('content-type') ?? '';
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      chunks.push({ at: Date.now(), text: decoder.decode(chunk, { stream: true }) });
    }
    return 'ended' as const;
  })().catch((err: Error) => (abort.signal.aborted ? ('aborted' as const) : Promise.reject(err)));
  return {
    done,
    abort: () => abort.abort(),
    text: () => chunks.map((c) => c.text).join(''),
    chunks,
    status: () => status,
    contentType: () => contentType,
  };
}

/** SSE events out of a stream's text: id and the data (fields joined by newlines). */
function events(text: string): Array<{ id?: string; event?: string; data: string }> {
  return text
    .split('\n\n')
    .filter((block) => /^(id|data|event):/m.test(block))
    .map((block) => {
      const e: { id?: string; event?: string; data: string } = { data: '' };
      const data: string[] = [];
      for (const field of block.split('\n')) {
        const [key, ...rest] = field.split(': ');
        if (key === 'id') e.id = rest.join(': ');
        if (key === 'event') e.event = rest.join(': ');
        if (key === 'data') data.push(rest.join(': '));
      }
      e.data = data.join('\n');
      return e;
    });
}

async function runningContainer(name: string, script: string): Promise<void> {
  await fleet.admin.post('/containers', { name, image: 'busybox', command: ['sh', '-c', script] });
  await eventually(async () => ((await fleet.admin.get<{ state: string }>(`/containers/${name}`)).state === 'running' ? true : undefined));
}

/** Prints `line N` every 100 ms, N from 1 to count, after waitSeconds; then exits (or what `after` says). */
const ticker = (count: number, after = 'exit 0', waitSeconds = 0.5) =>
  `sleep ${waitSeconds}; i=0; while [ $i -lt ${count} ]; do i=$((i+1)); echo "line $i"; sleep 0.1; done; ${after}`;

describe('logs?follow=1', () => {
  it('streams each line as the container prints it (within 300 ms of its time), and ends when the container exits', async () => {
    await runningContainer('ticking', ticker(20));
    const s = stream('/containers/ticking/logs?follow=1&timestamps=1');
    expect(await s.done).toBe('ended'); // the container exited: the server ended the answer
    expect(s.status()).toBe(200);
    expect(s.contentType()).toMatch(/^text\/plain/);
    const arrivals: Array<{ at: number; ns: bigint; text: string }> = [];
    for (const chunk of s.chunks) {
      for (const line of chunk.text.split('\n').filter(Boolean)) {
        const m = STAMP.exec(line)!;
        expect(m, line).not.toBeNull();
        arrivals.push({ at: chunk.at, ns: nsOf(m[1]!), text: m[2]! });
      }
    }
    expect(arrivals.map((a) => a.text)).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i + 1}`));
    // lines came as they were written, not all at the end...
    expect(arrivals.at(-1)!.at - arrivals[0]!.at).toBeGreaterThan(1500);
    // ...each within 300 ms of the time the node saw it
    for (const a of arrivals) expect(a.at - Number(a.ns / 1_000_000n)).toBeLessThan(300);
  });

  it('loses no line and repeats none while the log rotates under the follower', async () => {
    // 30 bursts of 1000 numbers, 100 ms apart: 169 KiB in all, rotated at 64 KiB as it is followed
    const script = 'for i in $(seq 1 30); do seq $((i*1000-999)) $((i*1000)); sleep 0.1; done; exit 0';
    await runningContainer('rotating', script);
    const s = stream('/containers/rotating/logs?follow=1');
    expect(await s.done).toBe('ended');
    const numbers = s.text().split('\n').slice(0, -1).map(Number);
    expect(numbers.length).toBe(30_000);
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    const { id } = (await fleet.db.pool.query<{ id: string }>("SELECT id::text FROM container WHERE name = 'rotating'")).rows[0]!;
    const dir = join(fleet.workers[0]!.worker!.runtime.stateDir, 'containers', id);
    expect(statSync(join(dir, 'console.log.1')).size).toBeGreaterThan(0); // it did rotate
  });

  it('tail=3 gives the last 3 whole lines, with or without follow', async () => {
    await runningContainer('counted', 'seq 1 1000; exec sleep 600');
    const tail = await eventually(async () => {
      const l = await fleet.admin.get<{ log: string; truncated: boolean }>('/containers/counted/logs?tail=3');
      return l.log === '998\n999\n1000\n' ? l : undefined;
    });
    expect(tail.truncated).toBe(true);
    const s = stream('/containers/counted/logs?follow=1&tail=3');
    await eventually(async () => (s.text() === '998\n999\n1000\n' ? true : undefined), 5000);
    s.abort();
    expect(await s.done).toBe('aborted');
  });

  it('since= (RFC 3339 or Unix seconds) keeps only the lines from that time on; timestamps=1 prefixes each with its time', async () => {
    await runningContainer('early-late', 'echo early; sleep 1.5; echo late; exec sleep 600');
    const all = await eventually(async () => {
      const l = await fleet.admin.get<{ log: string }>('/containers/early-late/logs?timestamps=1');
      return l.log.split('\n').length === 3 ? l.log.split('\n').slice(0, 2) : undefined;
    });
    const [early, late] = all.map((line) => STAMP.exec(line)!);
    expect([early![2], late![2]]).toEqual(['early', 'late']);
    expect(Number(nsOf(late![1]!) - nsOf(early![1]!)) / 1e6).toBeGreaterThan(1000);
    const since = encodeURIComponent(late![1]!);
    expect((await fleet.admin.get<{ log: string }>(`/containers/early-late/logs?since=${since}`)).log).toBe('late\n');
    const seconds = (Number(nsOf(late![1]!) / 1_000_000n) - 500) / 1000;
    expect((await fleet.admin.get<{ log: string }>(`/containers/early-late/logs?since=${seconds}`)).log).toBe('late\n');
    await expect(fleet.admin.get('/containers/early-late/logs?since=yesterday')).rejects.toMatchObject({ status: 400 });
  });

  it('as Server-Sent Events, resumes after Last-Event-ID with no line lost and none repeated', async () => {
    await runningContainer('resumed', ticker(30));
    const first = stream('/containers/resumed/logs?follow=1', { accept: 'text/event-stream' });
    await eventually(async () => (events(first.text()).length >= 5 ? true : undefined), 10_000);
    first.abort();
    await first.done;
    expect(first.contentType()).toMatch(/^text\/event-stream/);
    const seen = events(first.text());
    await new Promise((r) => setTimeout(r, 700)); // lines go on meanwhile
    const second = stream('/containers/resumed/logs?follow=1', { accept: 'text/event-stream', 'last-event-id': seen.at(-1)!.id! });
    expect(await second.done).toBe('ended');
    const rest = events(second.text());
    expect(rest.at(-1)).toMatchObject({ event: 'end' });
    const lines = [...seen, ...rest].filter((e) => e.event === undefined).map((e) => e.data);
    expect(lines).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i + 1}`));
    // ids are positions that only go up
    const ids = [...seen, ...rest].filter((e) => e.id !== undefined).map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it("sends a part line after a wait, and releases the node's follower and the API's subscription when the client leaves", async () => {
    const redis = new Redis(testRedisUrl());
    try {
      await runningContainer('quiet', "echo hello; printf 'prompt> '; exec sleep 600");
      const channels = () => redis.pubsub('CHANNELS', `${fleet.base.queuePrefix}:logs:*`) as Promise<string[]>;
      const s = stream('/containers/quiet/logs?follow=1');
      // a line with no newline yet (a prompt) goes out once it has waited a second
      await eventually(async () => (s.text() === 'hello\nprompt> ' ? true : undefined), 5000);
      expect(fleet.workers[0]!.worker!.logFollowers.count).toBe(1);
      expect(fleet.api.logStreams!.subscriptions).toBe(1);
      expect(await channels()).toHaveLength(1);
      s.abort();
      await s.done;
      await eventually(async () => (fleet.api.logStreams!.subscriptions === 0 ? true : undefined), 2000);
      await eventually(async () => ((await channels()).length === 0 ? true : undefined), 2000);
      // the node learns it from its next beat, which reaches nobody (a beat a second)
      await eventually(async () => (fleet.workers[0]!.worker!.logFollowers.count === 0 ? true : undefined), 3000);
    } finally {
      redis.disconnect();
    }
  });

  it('nagaya logs -f prints each line within 500 ms of its time (with --timestamps), and exits when the container exits', async () => {
    await runningContainer('cli-followed', ticker(10, 'exit 0', 2)); // time for the CLI to start
    const child = spawn(process.execPath, [CLI, 'logs', 'cli-followed', '-f', '--timestamps', '--since', '10m'], {
      env: childEnv({ NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN }),
    });
    const arrivals: Array<{ at: number; line: string }> = [];
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const parts = (pending + chunk.toString()).split('\n');
      pending = parts.pop()!;
      for (const line of parts) arrivals.push({ at: Date.now(), line });
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);
    expect(arrivals.map((a) => STAMP.exec(a.line)?.[2])).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i + 1}`));
    for (const a of arrivals) expect(a.at - Number(nsOf(STAMP.exec(a.line)![1]!) / 1_000_000n)).toBeLessThan(500);
  });
});
