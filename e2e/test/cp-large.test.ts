import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerView } from '@nagaya/contract';
import { testRedisUrl } from '../../packages/allocator/test/support/test-services';
import { ADMIN_TOKEN, eventually, NagayaSystem } from '../support/system';

/**
 * `nagaya cp` of a file far larger than any message should be, through the whole system (separate
 * API and worker processes, Redis between them): the bytes stream in bounded frames, so neither
 * process holds the file, and the file lands owned by the container's root (its slice's base).
 */

const SIZE = 50 * 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const kib = (pid: number, field: 'VmRSS' | 'VmHWM') =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

let sys: NagayaSystem;
let work: string;
beforeAll(async () => {
  sys = await NagayaSystem.start({ slices: 4 });
  work = mkdtempSync(join(tmpdir(), 'nagaya-cp-large-'));
}, 120_000);
afterAll(async () => {
  await sys?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** nagaya-extract processes working inside the container whose init is `pid`. */
function extractorsIn(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('nagaya-extract') && argv[1] === '--enter-pid' && argv[2] === String(pid)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The largest value the system keeps in Redis now (its rpc jobs stay a minute after they finish). */
async function largestRedisValue(redis: Redis): Promise<number> {
  let largest = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${sys.prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) largest = Math.max(largest, Number((await redis.memory('USAGE', key)) ?? 0));
  } while (cursor !== '0');
  return largest;
}

/** Runs the CLI while watching the peak RSS of the API and the worker (reset first: `5` > clear_refs). */
async function cpWatched(args: string[]): Promise<{ apiGrowthMiB: number; workerGrowthMiB: number }> {
  const api = sys.api.pid;
  const worker = sys.workers.get('node-a')!.pid;
  const before = { api: kib(api, 'VmRSS'), worker: kib(worker, 'VmRSS') };
  writeFileSync(`/proc/${api}/clear_refs`, '5');
  writeFileSync(`/proc/${worker}/clear_refs`, '5');
  const r = await sys.cli(['cp', ...args], undefined, 120_000);
  expect(r.code, r.stderr).toBe(0);
  return { apiGrowthMiB: (kib(api, 'VmHWM') - before.api) / 1024, workerGrowthMiB: (kib(worker, 'VmHWM') - before.worker) / 1024 };
}

describe('nagaya cp of a 50 MiB file', () => {
  it('copies it in and back out, sha256 equal both ways, owned by the container root, never held whole by the API or the worker', async () => {
    await sys.admin.post('/containers', { name: 'big', image: 'busybox', command: ['sleep', '600'] });
    const view = await eventually(async () => {
      const c = await sys.admin.get<ContainerView>('/containers/big');
      if (c.state === 'failed') throw new Error(`big failed: ${JSON.stringify(c.error)}`);
      return c.state === 'running' ? c : undefined;
    }, 30_000);
    // every message of a file copy, as Redis relays it
    const tap = new Redis(testRedisUrl());
    let largestMessage = 0;
    tap.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => {
      largestMessage = Math.max(largestMessage, message.length);
    });
    await tap.psubscribe(`${sys.prefix}:files:*`);
    const data = randomBytes(SIZE);
    const local = join(work, 'in.bin');
    writeFileSync(local, data);

    const copyIn = await cpWatched([local, 'big:/tmp/big.bin']);
    // inside, as the kernel sees it through the container's root: whole, and its root's (the slice's base)
    const inside = `/proc/${view.pid}/root/tmp/big.bin`;
    expect(sha256(readFileSync(inside))).toBe(sha256(data));
    const st = statSync(inside);
    expect([st.uid, st.gid]).toEqual([view.idmap.uid[0]!.hostId, view.idmap.gid[0]!.hostId]);

    const back = join(work, 'out.bin');
    const copyOut = await cpWatched(['big:/tmp/big.bin', back]);
    expect(sha256(readFileSync(back))).toBe(sha256(data));

    await tap.quit();
    const redis = new Redis(testRedisUrl());
    const largestValue = await largestRedisValue(redis);
    await redis.quit();
    // bounded frames (256 KiB and a JSON line), no job carrying the file
    expect(largestMessage).toBeGreaterThan(0);
    expect(largestMessage).toBeLessThanOrEqual(256 * 1024 + 100);
    expect(largestValue).toBeLessThan(64 * 1024);
    // Held whole (a Buffer and its base64 in a job) each grew by 350 MiB and more. What is left is
    // the garbage of frames gone by, which V8 collects about every 64 MiB of Buffers (measured:
    // 20 to 64 MiB): under 96 MiB of growth, neither process can have held the file twice.
    for (const growth of [copyIn, copyOut]) {
      expect(growth.apiGrowthMiB, JSON.stringify(growth)).toBeLessThan(96);
      expect(growth.workerGrowthMiB, JSON.stringify(growth)).toBeLessThan(96);
    }
  }, 180_000);

  it('ends a copy whose API dies midway: the node stops the extractor, and no part of the file is left', async () => {
    const view = await sys.admin.get<ContainerView>('/containers/big');
    const size = 20 * 1024 * 1024;
    const req = request(`${sys.url}/api/v1/containers/big/files?path=/tmp/cut.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    req.on('error', () => undefined); // the API is killed under it
    const half = randomBytes(size / 2);
    for (let at = 0; at < half.length; at += 65536) await new Promise<void>((r) => req.write(half.subarray(at, at + 65536), () => r()));
    const tmp = `/proc/${view.pid}/root/tmp`;
    const partials = () => readdirSync(tmp).filter((n) => n.startsWith('.nagaya-partial-'));
    await eventually(async () => (partials().length > 0 ? true : undefined), 10_000, 'the extractor writing');
    expect(extractorsIn(view.pid!)).toHaveLength(1);
    await sys.api.kill('SIGKILL');
    // the node's next beat (2 s) reaches nobody: it cuts the extractor's input, which removes its file
    await eventually(
      async () => (extractorsIn(view.pid!).length === 0 && partials().length === 0 ? true : undefined),
      10_000,
      'the copy ended',
    );
    expect(readdirSync(tmp)).not.toContain('cut.bin');
    req.destroy();
    await sys.startApi();
  }, 60_000);
});
