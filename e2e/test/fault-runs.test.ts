import { readdirSync, readFileSync } from 'node:fs';
import type { RunOutputView, RunView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problems, snapshot } from '../support/invariants';
import { eventually, NagayaSystem, SLICE } from '../support/system';

/**
 * The worker process killed with SIGKILL while it runs runs: every run still ends exactly once
 * with the result of its process (exit code and output), and nothing leaks: no run container,
 * no slice, no process in the pool's IDs. NAGAYA_FAULT_SCALE=full runs the 100 runs.
 */
const FULL = process.env.NAGAYA_FAULT_SCALE === 'full';
const RUNS = FULL ? 100 : 40;
const KILLS = 3;
const NODE = 'node-a';

let sys: NagayaSystem;
beforeAll(async () => {
  sys = await NagayaSystem.start({ slices: 24, nodes: [NODE], env: { NAGAYA_RUN_CONCURRENCY: '4' } });
  await sys.db.query('UPDATE id_pool SET quarantine_seconds = 0');
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

/** Processes whose real uid lies in the pool's IDs (a run's process left behind). */
function processesInPool(): number[] {
  const from = sys.uidStart;
  const to = from + sys.slices * SLICE;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))![1]);
      if (uid >= from && uid < to) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('the worker killed with SIGKILL during runs', () => {
  it(`${RUNS} runs, the worker killed ${KILLS} times: each run ends once with its own result, nothing leaks`, async () => {
    const runs: RunView[] = [];
    for (let i = 0; i < RUNS; i += 10) {
      const batch = Array.from({ length: Math.min(10, RUNS - i) }, (_, j) =>
        sys.admin.post<{ run: RunView }>('/runs', {
          image: 'busybox',
          // long enough that kills land while runs run
          command: ['/bin/sh', '-c', 'sleep 0.4; echo $RUN_N; exit $((RUN_N % 3))'],
          env: { RUN_N: String(i + j) },
          timeoutSeconds: 120,
        }),
      );
      runs.push(...(await Promise.all(batch)).map((r) => r.run));
    }
    for (let k = 0; k < KILLS; k++) {
      await eventually(async () => {
        const { rows } = await sys.db.query(`SELECT 1 FROM container WHERE kind = 'run' AND state = 'running'`);
        return rows.length > 0 ? true : undefined;
      }, 60_000);
      await new Promise((r) => setTimeout(r, 150 + k * 100));
      await sys.killWorker(NODE, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 300));
      await sys.startWorker(NODE);
    }
    const done = await Promise.all(runs.map((r) => sys.admin.get<RunView>(`/runs/${r.id}/wait?timeoutSeconds=240`)));
    for (const [n, run] of done.entries()) {
      // one attempt: an attempt whose process ran is taken up by the next worker, never made again
      expect([n, run.state, run.exitCode, run.attempt]).toEqual([n, n % 3 === 0 ? 'succeeded' : 'failed', n % 3, 1]);
      const out = await sys.admin.get<RunOutputView>(`/runs/${run.id}/output`);
      expect([n, out.stdout]).toEqual([n, `${n}\n`]);
    }
    // the result is written once: a second writer finds the run ended (the store's guard); and
    // no run container, slice or process is left
    await eventually(
      async () => {
        const c = await sys.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM container WHERE kind = 'run'`);
        const l = await sys.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM id_lease`);
        return c.rows[0]!.n === 0 && l.rows[0]!.n === 0 && processesInPool().length === 0 ? true : undefined;
      },
      60_000,
      'no run container, slice or process left',
    );
    const unfinished = await sys.db.query(`SELECT id FROM run WHERE finished_at IS NULL`);
    expect(unfinished.rows).toEqual([]);
    // and the fleet's invariants at rest (rows, slices, launchers, cgroups, quota counters, runs)
    expect(problems(await snapshot(sys, [NODE]))).toEqual([]);
  }, 400_000);
});
