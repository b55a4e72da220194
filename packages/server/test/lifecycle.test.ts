import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, waitRunning, type TestFleet } from './support/test-server';

interface MapLine {
  nsId: number;
  hostId: number;
  count: number;
}
interface Container {
  name: string;
  state: string;
  node: string;
  pid: number | null;
  exitCode: number | null;
  idmap: { uid: MapLine[]; gid: MapLine[] };
  error: { code: string; message: string } | null;
}

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await startTestFleet({ slices: 40, quarantineSeconds: 3600 });
});
afterAll(async () => {
  await fleet?.stop();
});

const running = (name: string) => waitRunning<Container>(fleet, name);

function procMap(pid: number, which: 'uid_map' | 'gid_map'): MapLine[] {
  return readFileSync(`/proc/${pid}/${which}`, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [nsId, hostId, count] = line.trim().split(/\s+/).map(Number) as [number, number, number];
      return { nsId, hostId, count };
    });
}

describe('containers through the API, with a real worker', () => {
  it('runs 20 containers created at once, each with its own disjoint slice, as GET /allocations says', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const created = await Promise.all(
      names.map((name) => fleet.admin.post<{ container: Container; job: { id: string } }>('/containers', { name, image: 'busybox' })),
    );
    for (const c of created) expect(c.container.state).toBe('pending');
    const containers = await Promise.all(names.map(running));
    const ranges = containers.map((c) => {
      const uid = procMap(c.pid!, 'uid_map');
      const gid = procMap(c.pid!, 'gid_map');
      expect(uid).toEqual(c.idmap.uid); // the kernel's map is the one the API reports
      expect(gid).toEqual(c.idmap.gid);
      expect(uid).toHaveLength(1);
      return { name: c.name, start: uid[0]!.hostId, end: uid[0]!.hostId + uid[0]!.count };
    });
    for (let i = 0; i < ranges.length; i++) {
      for (let j = i + 1; j < ranges.length; j++) {
        const a = ranges[i]!;
        const b = ranges[j]!;
        expect(a.start < b.end && b.start < a.end, `${a.name} and ${b.name} overlap`).toBe(false);
      }
    }
    const { allocations } = await fleet.admin.get<{
      allocations: Array<{ container: string; state: string; uid: { start: number; count: number } }>;
    }>('/allocations');
    for (const r of ranges) {
      const a = allocations.find((x) => x.container === r.name);
      expect(a, r.name).toBeDefined();
      expect(a!.state).toBe('active');
      expect(a!.uid).toEqual({ start: r.start, count: r.end - r.start });
    }
  });

  it('execs, shows logs, stops, starts, restarts', async () => {
    await fleet.admin.post('/containers', {
      name: 'life',
      image: 'busybox',
      command: ['/bin/sh', '-c', 'echo started $(hostname); trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'],
    });
    const first = await running('life');
    const exec = await fleet.admin.post<{ exitCode: number; stdout: string; stderr: string }>('/containers/life/exec', {
      command: ['/bin/sh', '-c', 'id -u; cat /proc/self/uid_map; echo err >&2; exit 3'],
    });
    expect(exec.exitCode).toBe(3);
    expect(exec.stdout.split('\n')[0]).toBe('0');
    expect(exec.stdout.replace(/[ \t]+/g, ' ')).toContain(`0 ${first.idmap.uid[0]!.hostId} 65536`);
    expect(exec.stderr).toBe('err\n');
    const logs = await eventually(async () => {
      const l = await fleet.admin.get<{ log: string }>('/containers/life/logs');
      return l.log.includes('started life') ? l : undefined;
    });
    expect(logs.log).toContain('started life');

    const stop = await fleet.admin.post<{ job: { id: string } }>('/containers/life/stop', { timeoutSeconds: 5 });
    expect((await fleet.admin.waitForJob(stop.job.id)).state).toBe('completed');
    const stopped = await fleet.admin.get<Container>('/containers/life');
    expect(stopped.state).toBe('stopped');
    expect(stopped.exitCode).toBe(0);
    expect(stopped.pid).toBeNull();

    await fleet.admin.post('/containers/life/start');
    const again = await running('life');
    expect(again.pid).not.toBe(first.pid);
    expect(again.idmap.uid).toEqual(first.idmap.uid); // same slice across a restart: its files stay its own

    const restart = await fleet.admin.post<{ job: { id: string } }>('/containers/life/restart', {});
    expect((await fleet.admin.waitForJob(restart.job.id)).state).toBe('completed');
    const third = await running('life');
    expect(third.pid).not.toBe(again.pid);
  });

  it('records the exit of a container that ends by itself', async () => {
    await fleet.admin.post('/containers', { name: 'short', image: 'busybox', command: ['/bin/sh', '-c', 'exit 7'] });
    const ended = await eventually(async () => {
      const c = await fleet.admin.get<Container>('/containers/short');
      return c.state === 'failed' || c.state === 'stopped' ? c : undefined;
    });
    expect(ended.state).toBe('failed');
    expect(ended.exitCode).toBe(7);
    expect(ended.error?.code).toBe('EXITED');
  });

  it('deletes: the container is gone (404) and its slice is quarantined', async () => {
    await fleet.admin.post('/containers', { name: 'gone', image: 'busybox' });
    const c = await running('gone');
    const del = await fleet.admin.delete<{ job: { id: string } }>('/containers/gone?force=1');
    expect((await fleet.admin.waitForJob(del.job.id)).state).toBe('completed');
    const err = await fleet.admin.get('/containers/gone').catch((e: { status: number; code: string }) => e);
    expect(err).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    const { allocations } = await fleet.admin.get<{ allocations: Array<{ state: string; uid: { start: number } }> }>(
      '/allocations?history=true',
    );
    const slice = allocations.find((a) => a.uid.start === c.idmap.uid[0]!.hostId);
    expect(slice?.state).toBe('quarantined');
    expect(() => readFileSync(`/proc/${c.pid}/uid_map`)).toThrow();
  });

  it('answers Idempotency-Key repeats with the first answer and creates one container', async () => {
    const headers = { 'idempotency-key': 'create-once-1' };
    const a = await fleet.admin.post<{ container: { id: string }; job: { id: string } }>(
      '/containers',
      { name: 'idem', image: 'busybox' },
      headers,
    );
    const b = await fleet.admin.post<{ container: { id: string }; job: { id: string } }>(
      '/containers',
      { name: 'idem', image: 'busybox' },
      headers,
    );
    expect(b).toEqual(a);
    const other = await fleet.admin.post('/containers', { name: 'idem2', image: 'busybox' }, headers).catch((e: { code: string }) => e);
    expect(other).toMatchObject({ code: 'CONFLICT' });
    const { containers } = await fleet.admin.get<{ containers: Container[] }>('/containers');
    expect(containers.filter((c) => c.name.startsWith('idem'))).toHaveLength(1);
    await running('idem'); // settled, so the next test's before/after slice counts are its own
  });
});

describe('a launch that keeps failing', () => {
  it('retries with one slice, gives it back at the end, and runs again when its job is retried', async () => {
    const before = (await fleet.admin.get<{ slices: { quarantined: number; active: number } }>('/pools/default')).slices;
    const res = await fleet.admin.post<{ job: { id: string } }>('/containers', {
      name: 'broken',
      image: 'busybox',
      command: ['/no/such/binary'],
    });
    const job = await fleet.admin.waitForJob(res.job.id, 30_000);
    expect(job.state).toBe('failed');
    const c = await fleet.admin.get<Container & { idmap: { uid: MapLine[] } }>('/containers/broken');
    expect(c.state).toBe('failed');
    expect(c.error?.message).toMatch(/cannot run "\/no\/such\/binary": not found in the image/);
    expect(c.idmap.uid).toEqual([]); // the slice went back
    const after = (await fleet.admin.get<{ slices: { quarantined: number; active: number } }>('/pools/default')).slices;
    expect(after.active).toBe(before.active);
    expect(after.quarantined).toBe(before.quarantined + 1); // three attempts, one slice
    const { jobs } = await fleet.admin.get<{ jobs: Array<{ id: string; attempts: number }> }>('/jobs?container=broken');
    expect(jobs[0]!.attempts).toBe(3);

    await fleet.admin.post(`/jobs/${res.job.id}/retry`);
    await eventually(
      async () => {
        const j = await fleet.admin.get<{ state: string; attempts: number }>(`/jobs/${res.job.id}`);
        return j.state === 'failed' && j.attempts > 3 ? j : undefined;
      },
      30_000,
      'the retried launch to run and fail again',
    );
    expect((await fleet.admin.get<Container>('/containers/broken')).state).toBe('failed');
  });
});

describe('a stop that races its launch', () => {
  it('wins: the container ends stopped, with no process left running', async () => {
    const created = await fleet.admin.post<{ container: { id: string } }>('/containers', { name: 'racer', image: 'busybox' });
    const stop = await fleet.admin.post<{ job: { id: string } }>('/containers/racer/stop', { timeoutSeconds: 1 });
    expect((await fleet.admin.waitForJob(stop.job.id)).state).toBe('completed');
    const launch = await fleet.admin.waitForJob(created.container.id);
    expect(launch.state).toBe('completed');
    await new Promise((r) => setTimeout(r, 300));
    const c = await fleet.admin.get<Container>('/containers/racer');
    expect(c.state).toBe('stopped');
    expect(c.pid).toBeNull();
    const running = await fleet.api.worker!.runtime.running();
    expect(running.map((r) => r.id)).not.toContain(created.container.id);
  });
});
