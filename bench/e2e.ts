// `npm run bench:e2e`: the whole system as a user meets it, against the bare launcher in the same
// run. Starts nagaya's API and worker as processes of their own (bench/support/fleet.ts:
// throwaway database, private Redis, own data directory), then, in BENCH_ROUNDS rounds that
// alternate the two so both see the same machine load:
//   launcher, 1 in flight: BENCH_SEQ launches of busybox `sleep` through packages/native from
//     this process (launch() called to argv executing), with the plan a worker sends (own 65536-ID
//     map, pids limit);
//   e2e, 1 in flight: BENCH_SEQ containers, POST /containers to the row's started_at;
//   launcher, 8 in flight (BENCH_LANES): BENCH_PACED launches, launches per second;
//   e2e, 8 in flight: BENCH_PACED containers, containers running per second, with the CPU time
//     each process of the orchestrator spent on them (API, worker, launcher, Postgres backends,
//     Redis, and the containers' own setup before their exec, from /proc/<pid>/task/*/schedstat),
//     and, apart, the bench's own (it shares the cores: its POSTs go over kept-alive node:http
//     connections, and it learns that a container runs from one LISTEN, never by polling).
// Then BENCH_BURST containers as fast as the API accepts them. Prints a table, then one JSON line
// with launcher_per_s_8, e2e_per_s_8 and e2e_over_launcher (their ratio, over all rounds), and
// the p50 at 1 in flight of both. BENCH_PERF_OUT=file records `perf record -a -g` over the first
// e2e 8-in-flight phase (run the servers with BENCH_SERVER_NODE_ARGS=--perf-basic-prof for
// JavaScript names). The system's containers get bridge networking, as an install's do by default
// (the bench's own bridge, tables and /21; BENCH_NETWORK=none: loopback only); the bare launcher's
// have none, so the ratio counts what networking costs. BENCH_SOCKETS=1: the servers reach Postgres
// and Redis over unix sockets instead of TCP loopback (measured: no clear change in CPU per launch).
// Needs root (real containers).
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBusyboxImage, ContainerRuntime, DEFAULT_PIDS_MAX } from '../packages/native/src';
import { cpuBetween, cpuNs, cpuSnapshot, median, quantile, startFleet } from './support/fleet';

const PACED = Number(process.env.BENCH_PACED ?? 200);
const SEQ = Number(process.env.BENCH_SEQ ?? 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BURST = Number(process.env.BENCH_BURST ?? 500);
const LANES = Number(process.env.BENCH_LANES ?? 8);
const WARM = 16;

interface Phase {
  /** Per-item latency, ms. */
  latencies: number[];
  /** Items per second over the phase's wall time. */
  perSecond: number;
  count: number;
  wallMs: number;
}

/** Runs `total` items `lanes` at a time; each item returns its latency in ms. */
async function lanes(total: number, width: number, item: (i: number) => Promise<number>): Promise<Phase> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < total) latencies.push(await item(next++));
    }),
  );
  const wallMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return { latencies, perSecond: (total * 1000) / wallMs, count: total, wallMs };
}

function startPerf(out: string) {
  const perf = spawn('perf', ['record', '-a', '-g', '-F', '499', '-o', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  return async () => {
    const done = new Promise((r) => perf.once('exit', r));
    perf.kill('SIGINT');
    await done;
  };
}

async function main(): Promise<void> {
  const slices = WARM * 2 + ROUNDS * (SEQ + PACED) + BURST + 64;
  // networking on, as a real install has it (BENCH_NETWORK=none: loopback only, as before wave 2)
  const network = process.env.BENCH_NETWORK === 'none' ? 'none' : 'bridge';
  const fleet = await startFleet({ slices, network });
  const bareDir = join(fleet.dir, 'bare');
  let bare: ContainerRuntime | undefined;
  try {
    const image = buildBusyboxImage(join(fleet.dir, 'bare-images', 'busybox'));
    chmodSync(join(fleet.dir, 'bare-images'), 0o711);
    bare = await ContainerRuntime.open({ stateDir: bareDir });
    const runtime = bare;
    let bareCount = 0;
    const bareLaunch = async (): Promise<number> => {
      const i = bareCount++;
      const map = [{ nsId: 0, hostId: 2_000_000_000 + (i % 1000) * 65536, count: 65536 }];
      const id = `bare-${i}`;
      const t = performance.now();
      await runtime.launch({
        id,
        image,
        argv: ['sleep', '100000'],
        env: {},
        hostname: id,
        uidMap: map,
        gidMap: map,
        limits: { pids: DEFAULT_PIDS_MAX },
      });
      return performance.now() - t;
    };
    let e2eCount = 0;
    const names: string[] = [];
    const e2eLaunch = async (): Promise<number> => {
      const name = `c-${e2eCount++}`;
      names.push(name);
      const sent = Date.now();
      await fleet.post(name);
      return (await fleet.watcher.wait(name)) - sent;
    };

    // 0. warm-up, not measured: the first launches open the pools' connections and compile
    // plans (plpgsql caches them per connection), as a server in service has long done
    await lanes(WARM, 8, e2eLaunch);
    await lanes(WARM, 8, bareLaunch);

    const seqBare: number[] = [];
    const seqE2e: number[] = [];
    const paced: { bare: Phase[]; e2e: Phase[] } = { bare: [], e2e: [] };
    const cpu: Record<string, number> = {};
    let cpuLaunches = 0;
    // what the bench itself spends (its POSTs and the LISTEN that tells it a container runs), on
    // the same cores as the system it measures: reported beside the system's, never in its total
    let benchCpuNs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      seqBare.push(...(await lanes(SEQ, 1, bareLaunch)).latencies);
      seqE2e.push(...(await lanes(SEQ, 1, e2eLaunch)).latencies);
      paced.bare.push(await lanes(PACED, LANES, bareLaunch));
      const before = await cpuSnapshot(fleet);
      const first = names.length;
      const stopPerf = round === 0 && process.env.BENCH_PERF_OUT ? startPerf(process.env.BENCH_PERF_OUT) : undefined;
      if (stopPerf) {
        writeFileSync(
          `${process.env.BENCH_PERF_OUT}.pids`,
          JSON.stringify({
            api: fleet.api.pid,
            worker: fleet.worker?.pid,
            launcher: fleet.launcherPid(),
            redis: fleet.redisPid,
            postgres: [...before.backends.keys()],
            bench: process.pid,
          }),
        );
        await new Promise((r) => setTimeout(r, 300));
      }
      const benchBefore = cpuNs(process.pid);
      paced.e2e.push(await lanes(PACED, LANES, e2eLaunch));
      benchCpuNs += cpuNs(process.pid) - benchBefore;
      await stopPerf?.();
      for (const [k, ns] of Object.entries(cpuBetween(before, await cpuSnapshot(fleet)))) cpu[k] = (cpu[k] ?? 0) + ns;
      // the containers' own CPU before their exec (clone, maps, mounts, pivot_root: the launch's
      // kernel work on the child side), all of it spent in this phase
      const { rows } = await fleet.db.query<{ pid: number }>('SELECT pid FROM container WHERE name = ANY ($1) AND pid IS NOT NULL', [
        names.slice(first),
      ]);
      cpu.containers = (cpu.containers ?? 0) + rows.reduce((a, r) => a + cpuNs(r.pid), 0);
      cpuLaunches += PACED;
    }

    // burst: BURST as fast as the API accepts them, until the last one runs
    const burstNames = Array.from({ length: BURST }, (_, i) => `burst-${i}`);
    const burstStart = Date.now();
    let cursor = 0;
    const waits: Array<Promise<number>> = [];
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (cursor < burstNames.length) {
          const name = burstNames[cursor++]!;
          await fleet.post(name);
          waits.push(fleet.watcher.wait(name));
        }
      }),
    );
    const allAccepted = (Date.now() - burstStart) / 1000;
    const burstSeconds = BURST > 0 ? (Math.max(...(await Promise.all(waits))) - burstStart) / 1000 : 0;

    const sum = (phases: Phase[]) => ({
      perSecond: (phases.reduce((a, p) => a + p.count, 0) * 1000) / phases.reduce((a, p) => a + p.wallMs, 0),
      latencies: phases.flatMap((p) => p.latencies).sort((a, b) => a - b),
    });
    const bare8 = sum(paced.bare);
    const e2e8 = sum(paced.e2e);
    seqBare.sort((a, b) => a - b);
    seqE2e.sort((a, b) => a - b);
    const ratio = e2e8.perSecond / bare8.perSecond;
    const cpuMs = Object.fromEntries(Object.entries(cpu).map(([k, ns]) => [k, ns / 1e6 / cpuLaunches]));
    const cpuTotal = Object.values(cpuMs).reduce((a, b) => a + b, 0);
    const f1 = (x: number) => x.toFixed(1);
    const rows: Array<[string, string]> = [
      ['topology', process.env.BENCH_TOPOLOGY === 'single' ? 'one process (nagaya serve)' : 'api and worker processes'],
      [
        `launcher, 1 in flight, ${SEQ}×${ROUNDS}: launch to running p50 / p90 ms`,
        `${f1(quantile(seqBare, 0.5))} / ${f1(quantile(seqBare, 0.9))}`,
      ],
      [`e2e, 1 in flight, ${SEQ}×${ROUNDS}: POST to running p50 / p90 ms`, `${f1(quantile(seqE2e, 0.5))} / ${f1(quantile(seqE2e, 0.9))}`],
      [
        `launcher, ${LANES} in flight, ${PACED}×${ROUNDS}: launches/s (per round)`,
        `${f1(bare8.perSecond)} (${paced.bare.map((p) => f1(p.perSecond)).join(', ')})`,
      ],
      ['  p50 / p99 ms', `${f1(quantile(bare8.latencies, 0.5))} / ${f1(quantile(bare8.latencies, 0.99))}`],
      [
        `e2e, ${LANES} in flight, ${PACED}×${ROUNDS}: running/s (per round)`,
        `${f1(e2e8.perSecond)} (${paced.e2e.map((p) => f1(p.perSecond)).join(', ')})`,
      ],
      ['  p50 / p99 ms', `${f1(quantile(e2e8.latencies, 0.5))} / ${f1(quantile(e2e8.latencies, 0.99))}`],
      [
        'e2e_over_launcher (per round)',
        `${ratio.toFixed(2)} (${paced.e2e.map((p, i) => (p.perSecond / paced.bare[i]!.perSecond).toFixed(2)).join(', ')})`,
      ],
      [
        `CPU ms per e2e launch at ${LANES} in flight: total`,
        `${cpuTotal.toFixed(2)} (${Object.entries(cpuMs)
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(', ')})`,
      ],
      ["  the bench's own (its POSTs and LISTEN), not in the total", (benchCpuNs / 1e6 / cpuLaunches).toFixed(2)],
      [`${BURST} containers as fast as accepted: all POSTs accepted, s`, allAccepted.toFixed(2)],
      [`${BURST} containers: last one running, s`, burstSeconds.toFixed(2)],
    ];
    const width = Math.max(...rows.map((r) => r[0].length));
    console.log(`${'measure'.padEnd(width)}  value\n${'-'.repeat(width)}  -----`);
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    console.log(
      JSON.stringify({
        bench: 'e2e',
        topology: process.env.BENCH_TOPOLOGY === 'single' ? 'single' : 'split',
        network,
        launcher_p50_ms_1: r2(quantile(seqBare, 0.5)),
        e2e_p50_ms_1: r2(quantile(seqE2e, 0.5)),
        e2e_p50_over_launcher_p50_1: r2(quantile(seqE2e, 0.5) / quantile(seqBare, 0.5)),
        launcher_per_s_8: r2(bare8.perSecond),
        e2e_per_s_8: r2(e2e8.perSecond),
        e2e_over_launcher: r2(ratio),
        e2e_over_launcher_rounds: paced.e2e.map((p, i) => r2(p.perSecond / paced.bare[i]!.perSecond)),
        post_to_running_ms_p50: quantile(e2e8.latencies, 0.5),
        post_to_running_ms_p99: quantile(e2e8.latencies, 0.99),
        cpu_ms_per_launch: r2(cpuTotal),
        cpu_ms_per_launch_by_part: Object.fromEntries(Object.entries(cpuMs).map(([k, v]) => [k, r2(v)])),
        bench_cpu_ms_per_launch: r2(benchCpuNs / 1e6 / cpuLaunches),
        launch_burst_s: r2(burstSeconds),
        burst: BURST,
        median_round_ratio: r2(median(paced.e2e.map((p, i) => p.perSecond / paced.bare[i]!.perSecond))),
      }),
    );
  } finally {
    await bare?.shutdown().catch(() => undefined);
    await fleet.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
