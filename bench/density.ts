// `npm run bench:density`: BENCH_DENSITY (1,000) running containers through the API, on a
// throwaway fleet (bench/support/fleet.ts: own database, private Redis, own data directory and
// subuid/subgid files with room for them all). Each runs busybox `sleep`, created as fast as the
// API accepts them (32 requests in flight). Prints a table, then one JSON line:
//   density_all_running_s   first POST to the last container's started_at;
//   orchestrator_rss_mib    resident memory of the API, the worker and the launcher once all run;
//   host_kib_per_container  MemAvailable before the first create less MemAvailable once all run,
//                           per container (what a container costs the host: its processes,
//                           namespaces, mounts, cgroups, and the orchestrator's share); on a
//                           machine where other work allocates meanwhile it is noise, so also
//   kernel_kib_per_container  the Slab + KernelStack + PageTables delta per container, and
//   process_pss_kib_per_container  the Pss of the containers' inits;
//   list_ms_p50 / p99       GET /api/v1/containers with all of them (BENCH_LIST_RUNS, 20, one at a time).
// Then it stops every container and the launcher, checks that no container cgroup is left under
// the launcher's cgroup roots, drops the database and removes the directory. Needs root.
import { existsSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRuntime } from '../packages/native/src';
import { kernelMemBytes, memAvailableBytes, NODE, pssBytes, quantile, rssBytes, startFleet } from './support/fleet';

const COUNT = Number(process.env.BENCH_DENSITY ?? 1000);
const LIST_RUNS = Number(process.env.BENCH_LIST_RUNS ?? 20);
const IN_FLIGHT = 32;

/** Cgroup directories below `root` (not root itself), deepest first. */
function cgroupsBelow(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      try {
        if (!statSync(p).isDirectory()) continue;
      } catch {
        continue;
      }
      walk(p);
      out.push(p);
    }
  };
  walk(root);
  return out;
}

async function main(): Promise<void> {
  const fleet = await startFleet({ slices: COUNT + 64 });
  let cgroupRoots: string[] = [];
  let ids: string[] = [];
  try {
    // settle: the servers have started and warmed nothing yet; what they hold now is the baseline
    await new Promise((r) => setTimeout(r, 1000));
    const memBefore = memAvailableBytes();
    const kernelBefore = kernelMemBytes();
    const rssBefore = { api: rssBytes(fleet.api.pid!), worker: fleet.worker ? rssBytes(fleet.worker.pid!) : 0 };
    const names = Array.from({ length: COUNT }, (_, i) => `d-${i}`);
    const started = Date.now();
    let cursor = 0;
    const waits: Array<Promise<number>> = [];
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (cursor < names.length) {
          const name = names[cursor++]!;
          await fleet.post(name);
          waits.push(fleet.watcher.wait(name));
        }
      }),
    );
    const acceptedS = (Date.now() - started) / 1000;
    const allRunningS = (Math.max(...(await Promise.all(waits))) - started) / 1000;
    const { rows } = await fleet.db.query<{ n: string }>("SELECT count(*) AS n FROM container WHERE state = 'running'");
    if (Number(rows[0]!.n) !== COUNT) throw new Error(`${rows[0]!.n} of ${COUNT} containers are running`);
    // let the exit watchers, GC and page cache settle before reading memory
    await new Promise((r) => setTimeout(r, 2000));
    const memAfter = memAvailableBytes();
    const kernelAfter = kernelMemBytes();
    const pids = (await fleet.db.query<{ pid: number }>('SELECT pid FROM container WHERE pid IS NOT NULL')).rows.map((r) => r.pid);
    const containerPss = pids.reduce((a, pid) => a + pssBytes(pid), 0);
    const launcherPid = fleet.launcherPid();
    const rss = {
      api: rssBytes(fleet.api.pid!),
      worker: fleet.worker ? rssBytes(fleet.worker.pid!) : 0,
      launcher: launcherPid ? rssBytes(launcherPid) : 0,
    };
    const rssTotal = rss.api + rss.worker + rss.launcher;

    const listMs: number[] = [];
    let listed = 0;
    for (let i = 0; i < LIST_RUNS; i++) {
      const t = performance.now();
      const res = await fleet.get('/api/v1/containers');
      const body = (await res.json()) as { containers: unknown[] };
      listMs.push(performance.now() - t);
      listed = body.containers.length;
    }
    listMs.sort((a, b) => a - b);
    const runtime = await ContainerRuntime.open({ stateDir: join(fleet.dir, 'data', 'runtime', NODE) });
    cgroupRoots = await runtime.cgroupRoots();
    runtime.close();
    ids = (await fleet.db.query<{ id: string }>('SELECT id FROM container')).rows.map((r) => r.id);

    const mib = (b: number) => b / 1024 / 1024;
    const table: Array<[string, string]> = [
      ['containers', String(COUNT)],
      [`all POSTs accepted (${IN_FLIGHT} in flight), s`, acceptedS.toFixed(2)],
      ['density_all_running_s (first POST to last running)', allRunningS.toFixed(2)],
      [
        'orchestrator RSS, MiB: api + worker + launcher',
        `${mib(rssTotal).toFixed(0)} (${mib(rss.api).toFixed(0)} + ${mib(rss.worker).toFixed(0)} + ${mib(rss.launcher).toFixed(1)})`,
      ],
      ['  api + worker RSS before the creates, MiB', `${mib(rssBefore.api).toFixed(0)} + ${mib(rssBefore.worker).toFixed(0)}`],
      ['host memory per container (MemAvailable delta / count), KiB', ((memBefore - memAfter) / 1024 / COUNT).toFixed(0)],
      [
        '  of which kernel objects (Slab + KernelStack + PageTables delta / count), KiB',
        ((kernelAfter - kernelBefore) / 1024 / COUNT).toFixed(0),
      ],
      ["  of which the container's processes (Pss of its init), KiB", (containerPss / 1024 / COUNT).toFixed(0)],
      [`GET /containers with ${listed} rows: p50 / p99 ms`, `${quantile(listMs, 0.5).toFixed(1)} / ${quantile(listMs, 0.99).toFixed(1)}`],
    ];
    const width = Math.max(...table.map((r) => r[0].length));
    console.log(`${'measure'.padEnd(width)}  value\n${'-'.repeat(width)}  -----`);
    for (const [k, v] of table) console.log(`${k.padEnd(width)}  ${v}`);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    console.log(
      JSON.stringify({
        bench: 'density',
        containers: COUNT,
        density_all_running_s: r2(allRunningS),
        accepted_s: r2(acceptedS),
        orchestrator_rss_mib: r2(mib(rssTotal)),
        rss_mib: { api: r2(mib(rss.api)), worker: r2(mib(rss.worker)), launcher: r2(mib(rss.launcher)) },
        host_kib_per_container: r2((memBefore - memAfter) / 1024 / COUNT),
        kernel_kib_per_container: r2((kernelAfter - kernelBefore) / 1024 / COUNT),
        process_pss_kib_per_container: r2(containerPss / 1024 / COUNT),
        list_rows: listed,
        list_ms_p50: r2(quantile(listMs, 0.5)),
        list_ms_p99: r2(quantile(listMs, 0.99)),
      }),
    );
  } finally {
    await fleet.stop();
    // the launcher's shutdown removes its containers' cgroups (<root>/<id>); any of ours left
    // behind is removed here (rmdir of an empty cgroup, children first) and reported
    let left = 0;
    for (const dir of cgroupRoots.flatMap((root) => ids.map((id) => join(root, id)))) {
      if (!existsSync(dir)) continue;
      left++;
      for (const sub of [...cgroupsBelow(dir), dir]) {
        try {
          rmdirSync(sub);
        } catch {
          // busy or gone
        }
      }
    }
    console.error(`cleanup: ${left} of ${ids.length} container cgroups were left behind (removed)`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
