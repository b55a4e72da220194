// 200 runs of busybox through the queue: each with its own exit code and output, uid 0 inside,
// on a slice disjoint from every run it overlapped in time (read from /proc while they run, and
// from the runs' records), and afterwards no run container and no slice left.
import type { RunOutputView, RunView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from './support/test-server';

const RUNS = 200;
let fleet: TestFleet;

beforeAll(async () => {
  // quarantine 0: 200 runs through 16 slices (the quarantine itself is the allocator's, tested there)
  fleet = await startTestFleet({ slices: 16, quarantineSeconds: 0 });
}, 60_000);
afterAll(async () => fleet?.stop());

describe(`${RUNS} runs`, () => {
  it('each ends with its exit code and output, as uid 0 on its own slice, and nothing is left', async () => {
    const runs: RunView[] = [];
    for (let i = 0; i < RUNS; i += 20) {
      const batch = Array.from({ length: Math.min(20, RUNS - i) }, (_, j) =>
        fleet.admin.post<{ run: RunView }>('/runs', {
          image: 'busybox',
          // the command, and the run's own uid_map read from /proc while it runs
          command: ['/bin/sh', '-c', 'echo $RUN_N; id -u; cat /proc/self/uid_map; exit $((RUN_N % 3))'],
          env: { RUN_N: String(i + j) },
          timeoutSeconds: 60,
        }),
      );
      runs.push(...(await Promise.all(batch)).map((r) => r.run));
    }
    const done = await Promise.all(runs.map((r) => fleet.admin.get<RunView>(`/runs/${r.id}/wait?timeoutSeconds=240`)));
    for (const [n, run] of done.entries()) {
      expect([n, run.state, run.exitCode]).toEqual([n, n % 3 === 0 ? 'succeeded' : 'failed', n % 3]);
      const out = await fleet.admin.get<RunOutputView>(`/runs/${run.id}/output`);
      const [echoed, uid, map] = out.stdout.split('\n');
      expect([n, echoed, uid, out.stderr]).toEqual([n, String(n), '0', '']);
      // the kernel's map of the run's process is the slice its record says it held
      expect([n, map!.trim().split(/\s+/).map(Number)]).toEqual([n, [0, run.slice!.uidStart, 65536]]);
    }
    // runs that overlapped in time held disjoint slices (by their records)
    const byTime = done.map((r) => ({
      id: r.id,
      from: new Date(r.startedAt!).getTime(),
      to: new Date(r.finishedAt!).getTime(),
      start: r.slice!.uidStart,
      end: r.slice!.uidStart + r.slice!.uidCount,
    }));
    for (const a of byTime)
      for (const b of byTime) {
        if (a.id >= b.id || a.to <= b.from || b.to <= a.from) continue;
        expect(a.end <= b.start || b.end <= a.start, `${a.id} and ${b.id} overlapped in time and in IDs`).toBe(true);
      }
    await eventually(
      async () => {
        const c = await fleet.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM container WHERE kind = 'run'`);
        const l = await fleet.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM id_lease`);
        return c.rows[0]!.n === 0 && l.rows[0]!.n === 0 ? true : undefined;
      },
      10_000,
      '0 run containers and 0 active slices',
    );
  }, 300_000);
});
