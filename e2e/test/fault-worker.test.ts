import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { isSameProcess, readStartTime } from '@nagaya/native';
import { OVERLAP_SQL, problems, restartProblems, runningOnTheirSlices, settledSnapshot, snapshot } from '../support/invariants';
import type { ApiError } from '@nagaya/contract';
import { eventually, NagayaSystem } from '../support/system';
import { seededRandom } from '../../packages/allocator/test/support/seeded-random';

/**
 * Fault tests of the worker process: kill -9 at random moments during many launches, and a
 * restart under load. The API is a separate process and keeps taking requests throughout.
 * NAGAYA_FAULT_SCALE=full runs the issue's full size (200 launches).
 */

const FULL = process.env.NAGAYA_FAULT_SCALE === 'full';
const LAUNCHES = FULL ? 200 : 64;
const NODE = 'node-a';
/** Every third launch mounts this volume: its mounts are in play when the worker dies. */
const VOLUME = 'kv';
const mountsVolume = (name: string) => Number(name.slice(1)) % 3 === 0;
/** Every fifth launch restarts always: its policy is in play when the worker dies, and the invariants check it. */
const restartsAlways = (name: string) => Number(name.slice(1)) % 5 === 0;

interface Container {
  id: string;
  name: string;
  state: string;
  pid: number | null;
  mounts?: Array<{ volume?: string; path: string }>;
  exitCode: number | null;
  exitSignal: string | null;
  error: { code: string } | null;
}

let sys: NagayaSystem;
beforeAll(async () => {
  // quarantine 0: a failed launch's slice is free again at once, so the pool never runs dry
  sys = await NagayaSystem.start({ slices: LAUNCHES + 40, nodes: [NODE] });
  await sys.db.query('UPDATE id_pool SET quarantine_seconds = 0');
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

describe('the worker killed with SIGKILL during launches', () => {
  it(`${LAUNCHES} launches, the worker killed at random moments and restarted each time: nothing lost, nothing leaked`, async () => {
    const seed = Number(process.env.NAGAYA_FAULT_SEED ?? Date.now() % 1_000_000);
    const rand = seededRandom(seed);
    const started = Date.now();
    const names: string[] = [];
    const jobs = new Map<string, string>();
    let kills = 0;
    /** `always` containers whose init this test killed while the worker was down, with that pid. */
    const killedInits = new Map<string, number>();
    let unavailable = 0;
    await sys.admin.post('/volumes', { name: VOLUME });
    const submit = async (name: string) => {
      // as a careful client does: retry a 503 (no worker node online while it restarts) with the
      // same Idempotency-Key, so a retry never makes a second container
      for (;;) {
        try {
          const res = await sys.admin.post<{ job: { id: string } }>(
            '/containers',
            {
              name,
              image: 'busybox',
              ...(mountsVolume(name) ? { mounts: [{ volume: VOLUME, path: '/kv' }] } : {}),
              ...(restartsAlways(name) ? { restartPolicy: { name: 'always' } } : {}),
            },
            { 'Idempotency-Key': `create-${name}` },
          );
          jobs.set(name, res.job.id);
          return;
        } catch (err) {
          if ((err as ApiError).code !== 'UNAVAILABLE') throw err;
          unavailable++;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    while (names.length < LAUNCHES) {
      // a batch of creates, then a kill at a random moment while the worker works on them
      const batch = Array.from(
        { length: Math.min(LAUNCHES - names.length, 4 + Math.floor(rand() * 10)) },
        () => `k${names.push(`k${names.length}`) - 1}`,
      );
      const submitting = Promise.all(batch.map(submit));
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 400)));
      await sys.killWorker(NODE, 'SIGKILL');
      kills++;
      // while no worker listens, the init of a running `always` container dies too: its exit waits in
      // the launcher for the next worker, whose policy must bring it back on its slice
      const victim = (
        await sys.db.query<{ name: string; pid: number }>(
          `SELECT name, pid FROM container
            WHERE state = 'running' AND pid IS NOT NULL AND restart_policy->>'name' = 'always' AND NOT (name = ANY($1))
            ORDER BY random() LIMIT 1`,
          [[...killedInits.keys()]],
        )
      ).rows[0];
      if (victim && rand() < 0.7) {
        try {
          process.kill(victim.pid, 'SIGKILL');
          killedInits.set(victim.name, victim.pid);
        } catch {
          /* it ended meanwhile */
        }
      }
      if (rand() < 0.3) await new Promise((r) => setTimeout(r, Math.floor(rand() * 1000))); // down a while
      await sys.startWorker(NODE);
      await submitting;
    }
    const killedAt = Date.now();

    // every create ends completed or failed; every container running or failed; all invariants hold
    const final = await settledSnapshot(sys, [NODE], LAUNCHES);
    const settledAt = Date.now();
    const jobStates = new Map<string, number>();
    for (const name of names) {
      const job = await sys.admin.get<{ state: string }>(`/jobs/${jobs.get(name)}`);
      jobStates.set(job.state, (jobStates.get(job.state) ?? 0) + 1);
      expect(['completed', 'failed'], `${name}'s create job`).toContain(job.state);
    }
    const byState = new Map<string, number>();
    for (const r of final.rows) byState.set(r.state, (byState.get(r.state) ?? 0) + 1);
    expect([...byState.keys()].every((st) => st === 'running' || st === 'failed')).toBe(true);
    expect((await sys.db.query(OVERLAP_SQL)).rows[0].n).toBe(0);
    expect(runningOnTheirSlices(final)).toEqual([]); // the kernel's maps, one init per slice
    // a container relaunched or adopted after a kill still has its volume, idmapped, and no other has one
    for (const r of final.rows) {
      const mounts = readFileSync(`/proc/${r.pid}/mountinfo`, 'utf8')
        .split('\n')
        .filter((l) => l.split(' ')[4] === '/kv');
      expect([r.name, mounts.length, mounts.every((l) => /idmapped/.test(l))]).toEqual([r.name, mountsVolume(r.name) ? 1 : 0, true]);
    }
    // the policy each create asked for is the one its row keeps, through every kill and relaunch
    for (const r of final.rows) expect([r.name, r.restartPolicy.name]).toEqual([r.name, restartsAlways(r.name) ? 'always' : 'no']);
    // each init killed while the worker was down came back by its policy, counted, as a new process
    for (const [name, pid] of killedInits) {
      const r = final.rows.find((x) => x.name === name)!;
      expect([name, r.restart_count >= 1, r.pid !== pid]).toEqual([name, true, true]);
    }
    // the restart invariants read this real snapshot right: a row between two runs that kept its
    // slice breaks nothing of theirs, one that lost it or restarted past its maxRetries is named
    const always = final.rows.find((r) => restartsAlways(r.name))!;
    const between = { ...final, rows: final.rows.map((r) => (r === always ? { ...r, state: 'restarting', pid: null } : r)) };
    expect(restartProblems(between)).toEqual([]);
    expect(problems(between)).toContain(`${always.name} is still restarting`);
    expect(restartProblems({ ...between, slices: final.slices.filter((sl) => sl.owner !== always.id) })).toEqual([
      `${always.name} is restarting without its slice`,
    ]);
    const capped = { ...always, restartPolicy: { name: 'on-failure', maxRetries: 0 }, restart_count: 1 };
    expect(restartProblems({ ...final, rows: final.rows.map((r) => (r === always ? capped : r)) })).toEqual([
      `${always.name} restarted 1 times, its policy on-failure:0`,
    ]);
    const volume = await sys.admin.get<{ mountedBy: unknown[] }>(`/volumes/${VOLUME}`);
    expect(volume.mountedBy).toHaveLength(names.filter(mountsVolume).length);
    console.log(
      `[fault-worker] seed ${seed}: ${LAUNCHES} launches, ${kills} kill -9 of the worker in ${((killedAt - started) / 1000).toFixed(1)} s; ` +
        `settled ${((settledAt - killedAt) / 1000).toFixed(1)} s after the last kill; containers ${JSON.stringify(Object.fromEntries(byState))}; ` +
        `create jobs ${JSON.stringify(Object.fromEntries(jobStates))}; inits of always containers killed: ${killedInits.size}; 503s retried while no node was online: ${unavailable}`,
    );
    // no launch may fail for good just because its worker was killed (they are retried or re-enqueued)
    expect(byState.get('running') ?? 0).toBe(LAUNCHES);
  }, 420_000);

  it('cleans up completely: deleting every container leaves no slice, lease or process', async () => {
    const { containers } = await sys.admin.get<{ containers: Container[] }>('/containers');
    for (let i = 0; i < containers.length; i += 16) {
      await Promise.all(
        containers.slice(i, i + 16).map(async (c) => {
          const res = await sys.admin.delete<{ job: { id: string } }>(`/containers/${c.name}?force=1`);
          expect((await sys.admin.waitForJob(res.job.id, 120_000)).state).toBe('completed');
        }),
      );
    }
    // unmounted now: the volume goes, with its directory
    await sys.admin.delete(`/volumes/${VOLUME}`);
    const s = await snapshot(sys, [NODE]);
    expect([s.volumes, [...s.volumeDirs]]).toEqual([[], []]);
    expect(s.rows).toEqual([]);
    expect(s.slices).toEqual([]);
    expect(s.leases).toEqual([]);
    expect(s.running.get(NODE)).toEqual([]);
  }, 300_000);
});

describe('the worker restarted under load', () => {
  it('re-adopts running containers, records the exit code of one that ended while it was down, and catches up on launches', async () => {
    const keep = ['keep0', 'keep1', 'keep2'];
    for (const name of keep) await sys.admin.post('/containers', { name, image: 'busybox' });
    await sys.admin.post('/containers', { name: 'ender', image: 'busybox', command: ['/bin/sh', '-c', 'sleep 2; exit 7'] });
    const running = await eventually(
      async () => {
        const cs = await Promise.all([...keep, 'ender'].map((n) => sys.admin.get<Container>(`/containers/${n}`)));
        return cs.every((c) => c.state === 'running') ? cs : undefined;
      },
      60_000,
      'the first containers running',
    );
    await sys.killWorker(NODE, 'SIGKILL');
    // while the worker is down: the ender exits, more launches are asked for
    const more = Array.from({ length: 10 }, (_, i) => `late${i}`);
    await Promise.all(more.map((name) => sys.admin.post('/containers', { name, image: 'busybox' })));
    const enderPid = running[3]!.pid!;
    const enderStart = readStartTime(enderPid)!;
    await eventually(async () => (isSameProcess(enderPid, enderStart) ? undefined : true), 10_000, 'the ender to exit');
    expect((await sys.admin.get<Container>('/containers/ender')).state).toBe('running'); // nobody has noticed yet
    await sys.startWorker(NODE);

    const ender = await eventually(
      async () => {
        const c = await sys.admin.get<Container>('/containers/ender');
        return c.state === 'failed' ? c : undefined;
      },
      30_000,
      'the ender recorded',
    );
    expect(ender.exitCode).toBe(7);
    expect(ender.error?.code).toBe('EXITED');
    for (const [i, name] of keep.entries()) {
      const c = await sys.admin.get<Container>(`/containers/${name}`);
      expect(c.state).toBe('running');
      expect(c.pid).toBe(running[i]!.pid); // the same process: adopted, not relaunched
    }
    await eventually(
      async () => {
        const cs = await Promise.all(more.map((n) => sys.admin.get<Container>(`/containers/${n}`)));
        return cs.every((c) => c.state === 'running') ? true : undefined;
      },
      60_000,
      'the launches asked for while the worker was down',
    );
    const exec = await sys.admin.post<{ stdout: string }>('/containers/keep1/exec', { command: ['hostname'] });
    expect(exec.stdout.trim()).toBe('keep1');
    expect(problems(await snapshot(sys, [NODE]))).toEqual([]);
  }, 180_000);
});
