// `npm run bench:runs`: BENCH_RUNS (1,000) runs of busybox `true` through the runs queue, BENCH_LANES
// (16) at a time, each submitted as `nagaya run` submits it, with POST /runs and Prefer: wait=30, so
// the answer is the run's result (BENCH_RUNS_PREFER_WAIT=0: the POST answers at once and the result is
// read with the long poll GET /runs/:id/wait, as before the Prefer header existed) (a run:
// a fresh container on a fresh slice, launched, exited, its output collected, removed, its slice
// released). Against, in the same bench, the same 1,000 done by the bare launcher alone from this
// process, 16 at a time: launch with its own 65536-ID map and output capture, wait for the exit,
// read the output, remove. The two alternate in BENCH_ROUNDS (4) rounds, so both meet the same
// machine. Prints a table and one JSON line with runs_per_s (target >= 100 on 2
// cores), p50/p99 submit to result, launcher_runs_per_s and runs_over_launcher (target >= 0.5).
// Throwaway fleet (bench/support/fleet.ts); NAGAYA_RUN_CONCURRENCY is the lane count; runs have no
// network unless BENCH_NETWORK=bridge (the bare launcher half has none either way). Needs root.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBusyboxImage, ContainerRuntime, DEFAULT_PIDS_MAX } from '../packages/native/src';
import { printTable } from './bench-support';
import { cpuBetween, cpuSnapshot, quantile, startFleet, type Fleet } from './support/fleet';

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const LANES = Number(process.env.BENCH_LANES ?? 16);
/**
 * The runs and the bare launcher alternate in this many rounds (RUNS/ROUNDS each per round), so
 * both meet the same machine: this VM's speed swings by up to 1.7x within minutes, and one long
 * phase of each measured the two at different speeds (bare launcher 116 and 183 runs/s in two
 * back-to-back benches of the same build).
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const WARM = 32;

interface Phase {
  perSecond: number;
  latencies: number[];
  ms: number;
}

/** Phases of one kind over every round, as one: their runs over their summed time. */
function combined(phases: Phase[], total: number): Phase {
  const ms = phases.reduce((sum, p) => sum + p.ms, 0);
  const latencies = phases.flatMap((p) => p.latencies).sort((a, b) => a - b);
  return { perSecond: (total * 1000) / ms, latencies, ms };
}

async function lanes(total: number, width: number, item: (i: number) => Promise<number>): Promise<Phase> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < total) latencies.push(await item(next++));
    }),
  );
  latencies.sort((a, b) => a - b);
  const ms = performance.now() - started;
  return { perSecond: (total * 1000) / ms, latencies, ms };
}

/** Busy CPU time of the whole machine (ns): /proc/stat's first line less idle and iowait. */
function machineBusyNs(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  return ((user + nice + system + irq + softirq + steal) * 1e9) / 100; // USER_HZ is 100 on Linux
}

/** An API request through the fleet's node:http client (fetch, undici, cost the bench about 2 ms of CPU per run here). */
function api<T>(fleet: Fleet, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  return fleet.call<T>(method, path, body, headers);
}

async function main(): Promise<void> {
  const fleet = await startFleet({
    // BENCH_NETWORK=bridge: each run on the bench's own bridge, as an install runs them by default
    network: process.env.BENCH_NETWORK === 'bridge' ? 'bridge' : 'none',
    slices: 2 * (RUNS + WARM) + 64,
    env: { NAGAYA_RUN_CONCURRENCY: String(LANES), NAGAYA_RUN_PROJECT_CONCURRENCY: String(LANES) },
  });
  let bare: ContainerRuntime | undefined;
  try {
    const runThrough = async (): Promise<number> => {
      const sent = performance.now();
      // as `nagaya run` submits: the POST waits for the run's end (Prefer: wait), and a run not
      // ended by then is waited for with the long poll
      const { run } = await api<{ run: { id: string; state: string; exitCode: number | null } }>(
        fleet,
        'POST',
        '/runs',
        { image: 'busybox', command: ['true'], timeoutSeconds: 60 },
        process.env.BENCH_RUNS_PREFER_WAIT === '0' ? {} : { prefer: 'wait=30' },
      );
      let done = run;
      while (done.state === 'queued' || done.state === 'running') {
        done = await api<typeof run>(fleet, 'GET', `/runs/${run.id}/wait?timeoutSeconds=30`);
      }
      if (done.state !== 'succeeded' || done.exitCode !== 0) throw new Error(`run ${run.id} ended ${done.state} (${done.exitCode})`);
      return performance.now() - sent;
    };
    const image = buildBusyboxImage(join(fleet.dir, 'bare-images', 'busybox'));
    bare = await ContainerRuntime.open({ stateDir: join(fleet.dir, 'bare') });
    const runtime = bare;
    const bareRun = async (i: number): Promise<number> => {
      const t = performance.now();
      const id = `bare-${i}`;
      const map = [{ nsId: 0, hostId: 3_500_000_000 + (i % 2000) * 65536, count: 65536 }];
      await runtime.launch({
        id,
        image,
        argv: ['true'],
        hostname: id,
        uidMap: map,
        gidMap: map,
        limits: { pids: DEFAULT_PIDS_MAX },
        timeoutMs: 60_000,
        outputLimitBytes: 1024 * 1024,
      });
      await runtime.wait(id);
      runtime.readOutput(id);
      await runtime.remove(id);
      return performance.now() - t;
    };
    // warm-up, not measured: connections, plans and the JIT
    await lanes(WARM, LANES, runThrough);
    await lanes(WARM, LANES, (i) => bareRun(RUNS + i));
    // CPU per run of each part (ms), over the runs phases only: where the runs path spends what
    // the bare launcher does not
    const cpu: Record<string, number> = {};
    const add = (part: string, ns: number) => (cpu[part] = (cpu[part] ?? 0) + ns);
    const queuedRounds: Phase[] = [];
    let bareMachineNs = 0;
    const launcherRounds: Phase[] = [];
    const perRound = Math.ceil(RUNS / ROUNDS);
    for (let done = 0; done < RUNS; done += perRound) {
      const count = Math.min(perRound, RUNS - done);
      const before = await cpuSnapshot(fleet);
      const benchCpuBefore = process.cpuUsage();
      const machineBefore = machineBusyNs();
      queuedRounds.push(await lanes(count, LANES, runThrough));
      for (const [part, ns] of Object.entries(cpuBetween(before, await cpuSnapshot(fleet)))) add(part, ns);
      const benchCpu = process.cpuUsage(benchCpuBefore);
      add('bench client', (benchCpu.user + benchCpu.system) * 1000);
      add('machine (every process and the kernel)', machineBusyNs() - machineBefore);
      const bareBefore = machineBusyNs();
      launcherRounds.push(await lanes(count, LANES, (i) => bareRun(done + i)));
      bareMachineNs += machineBusyNs() - bareBefore;
    }
    // the same work's machine CPU both ways: steadier than the rates on a machine whose speed
    // swings, and what the rates' ratio comes to when both are CPU-bound
    const bareMsPerRun = bareMachineNs / 1e6 / RUNS;
    const runsMsPerRun = (cpu['machine (every process and the kernel)'] ?? 0) / 1e6 / RUNS;
    const cpuPerRun = Object.entries(cpu).map(([part, ns]): [string, string] => [`  cpu ms/run: ${part}`, (ns / 1e6 / RUNS).toFixed(2)]);
    const queued = combined(queuedRounds, RUNS);
    const launcher = combined(launcherRounds, RUNS);
    const roundRatios = queuedRounds.map((q, i) => Number((q.perSecond / launcherRounds[i]!.perSecond).toFixed(2)));
    const { rows } = await fleet.db.query<{ n: string }>("SELECT count(*) AS n FROM container WHERE kind = 'run'");
    const left = Number(rows[0]!.n);
    const ratio = queued.perSecond / launcher.perSecond;
    const table: Array<[string, string]> = [
      [`runs of busybox true, ${LANES} at a time`, String(RUNS)],
      ['runs_per_s (submit to result, through the queue; target >= 100)', queued.perSecond.toFixed(1)],
      [
        '  p50 / p99 submit to result, ms',
        `${quantile(queued.latencies, 0.5).toFixed(0)} / ${quantile(queued.latencies, 0.99).toFixed(0)}`,
      ],
      ['launcher_runs_per_s (the bare launcher, same work)', launcher.perSecond.toFixed(1)],
      ['  p50 / p99, ms', `${quantile(launcher.latencies, 0.5).toFixed(1)} / ${quantile(launcher.latencies, 0.99).toFixed(1)}`],
      ...cpuPerRun,
      ['runs_over_launcher (target >= 0.5)', ratio.toFixed(2)],
      [`  per round (${queuedRounds.length} rounds, runs then launcher in each)`, roundRatios.join(', ')],
      [
        '  machine cpu ms/run: bare launcher / runs (their ratio)',
        `${bareMsPerRun.toFixed(2)} / ${runsMsPerRun.toFixed(2)} (${(bareMsPerRun / runsMsPerRun).toFixed(2)})`,
      ],
      ['run containers left', String(left)],
    ];
    printTable(table);
    console.log(
      JSON.stringify({
        bench: 'runs',
        runs: RUNS,
        lanes: LANES,
        runs_per_s: Number(queued.perSecond.toFixed(1)),
        p50_ms: Number(quantile(queued.latencies, 0.5).toFixed(1)),
        p99_ms: Number(quantile(queued.latencies, 0.99).toFixed(1)),
        launcher_runs_per_s: Number(launcher.perSecond.toFixed(1)),
        runs_over_launcher: Number(ratio.toFixed(2)),
        runs_over_launcher_rounds: roundRatios,
        machine_cpu_ms_per_run: { bare: Number(bareMsPerRun.toFixed(2)), runs: Number(runsMsPerRun.toFixed(2)) },
        cpu_ms_per_run: Object.fromEntries(Object.entries(cpu).map(([part, ns]) => [part, Number((ns / 1e6 / RUNS).toFixed(2))])),
        run_containers_left: left,
      }),
    );
  } finally {
    await bare?.shutdown().catch(() => undefined);
    await fleet.stop();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
