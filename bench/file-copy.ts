// `npm run bench:file-copy`: `nagaya cp` of a 50 MiB random file (BENCH_FILE_COPY_MIB) into a
// running busybox container and back out, through the whole system (e2e/support/system.ts: separate
// API and worker processes, the shared Redis). For each way: wall seconds of the CLI, the API's and
// the worker's peak RSS (VmHWM, reset first with `5` > /proc/<pid>/clear_refs) and CPU seconds, the
// CLI's peak RSS, and the largest value Redis held under the system's prefix (sampled every 20 ms).
// BENCH_FILE_COPY_REPO measures another checkout (built) with its own system, e.g. main for a
// before/after. Prints a table and one JSON line. Needs root.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { testRedisUrl } from '../packages/allocator/test/support/test-services';
import { printTable } from './bench-support';

const REPO = resolve(process.env.BENCH_FILE_COPY_REPO ?? join(__dirname, '..'));
const SIZE = Number(process.env.BENCH_FILE_COPY_MIB ?? 50) * 1024 * 1024;

const kib = (pid: number, field: 'VmRSS' | 'VmHWM') =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const cpuSeconds = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Way {
  way: string;
  seconds: number;
  apiRssMiB: number;
  apiPeakMiB: number;
  apiCpuSeconds: number;
  workerRssMiB: number;
  workerPeakMiB: number;
  workerCpuSeconds: number;
  cliPeakMiB: number;
  largestRedisValueBytes: number;
}

async function main(): Promise<void> {
  // biome-ignore lint/suspicious/noExplicitAny: another checkout's system, loaded at run time
  const { NagayaSystem, CLI, ADMIN_TOKEN } = (await import(join(REPO, 'e2e/support/system.ts'))) as any;
  const sys = await NagayaSystem.start({ slices: 4 });
  const redis = new Redis(testRedisUrl());
  const work = mkdtempSync(join(tmpdir(), 'nagaya-bench-cp-'));
  try {
    await sys.admin.post('/containers', { name: 'big', image: 'busybox', command: ['sleep', '600'] });
    for (;;) {
      const c = await sys.admin.get('/containers/big');
      if (c.state === 'running') break;
      if (c.state === 'failed') throw new Error(JSON.stringify(c.error));
      await new Promise((r) => setTimeout(r, 100));
    }
    const data = randomBytes(SIZE);
    writeFileSync(join(work, 'in.bin'), data);
    const api: number = sys.api.pid;
    const worker: number = sys.workers.get('node-a').pid;
    let largest = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${sys.prefix}:*`, 'COUNT', 1000);
          cursor = next;
          for (const k of keys) largest = Math.max(largest, Number((await redis.memory('USAGE', k)) ?? 0));
        } while (cursor !== '0');
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const env = { ...process.env, NAGAYA_URL: sys.url, NAGAYA_TOKEN: ADMIN_TOKEN };
    const ways: Way[] = [];
    for (const [way, args] of [
      ['in', ['cp', join(work, 'in.bin'), 'big:/tmp/big.bin']],
      ['out', ['cp', 'big:/tmp/big.bin', join(work, 'out.bin')]],
    ] as const) {
      const rss = { api: kib(api, 'VmRSS'), worker: kib(worker, 'VmRSS') };
      writeFileSync(`/proc/${api}/clear_refs`, '5');
      writeFileSync(`/proc/${worker}/clear_refs`, '5');
      const cpu = { api: cpuSeconds(api), worker: cpuSeconds(worker) };
      largest = 0;
      const started = process.hrtime.bigint();
      const cliPeakKiB = await new Promise<number>((done, fail) =>
        execFile('/usr/bin/time', ['-f', '%M', process.execPath, CLI, ...args], { env }, (err, _out, stderr) =>
          err ? fail(new Error(stderr)) : done(Number(stderr.trim().split('\n').pop())),
        ),
      );
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      await new Promise((r) => setTimeout(r, 300)); // a last sample of Redis
      ways.push({
        way,
        seconds,
        apiRssMiB: rss.api / 1024,
        apiPeakMiB: kib(api, 'VmHWM') / 1024,
        apiCpuSeconds: cpuSeconds(api) - cpu.api,
        workerRssMiB: rss.worker / 1024,
        workerPeakMiB: kib(worker, 'VmHWM') / 1024,
        workerCpuSeconds: cpuSeconds(worker) - cpu.worker,
        cliPeakMiB: cliPeakKiB / 1024,
        largestRedisValueBytes: largest,
      });
    }
    sampling = false;
    await sampler;
    const equal = sha256(readFileSync(join(work, 'out.bin'))) === sha256(data);
    const rows: Array<[string, string]> = [['sha256 equal', String(equal)]];
    for (const w of ways) {
      rows.push(
        [`${w.way}: seconds`, w.seconds.toFixed(2)],
        [
          `${w.way}: api rss -> peak MiB (cpu s)`,
          `${w.apiRssMiB.toFixed(0)} -> ${w.apiPeakMiB.toFixed(0)} (${w.apiCpuSeconds.toFixed(2)})`,
        ],
        [
          `${w.way}: worker rss -> peak MiB (cpu s)`,
          `${w.workerRssMiB.toFixed(0)} -> ${w.workerPeakMiB.toFixed(0)} (${w.workerCpuSeconds.toFixed(2)})`,
        ],
        [`${w.way}: cli peak MiB`, w.cliPeakMiB.toFixed(0)],
        [`${w.way}: largest Redis value bytes`, String(w.largestRedisValueBytes)],
      );
    }
    printTable(rows);
    console.log(JSON.stringify({ bench: 'file-copy', repo: REPO, bytes: SIZE, sha256Equal: equal, ways }));
  } finally {
    redis.disconnect();
    await sys.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
