import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, NagayaSystem, rawRequest, SLICE } from '../support/system';

/**
 * nagaya as a user runs it: the API and a worker in separate `nagaya serve` processes, driven
 * through the REST API and the `nagaya` CLI binary (exit codes and --json output).
 */

interface Container {
  id: string;
  name: string;
  state: string;
  node: string;
  pid: number | null;
  exitCode: number | null;
  idmap: { uid: Array<{ nsId: number; hostId: number; count: number }>; gid: Array<{ nsId: number; hostId: number; count: number }> };
}

let sys: NagayaSystem;
beforeAll(async () => {
  sys = await NagayaSystem.start({ slices: 16 });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

describe('separate API and worker processes', () => {
  it('answer /healthz and list the worker node', async () => {
    const health = await rawRequest(`${sys.url}/healthz`, 'GET');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', dependencies: { postgres: 'ok', redis: 'ok' } });
    const nodes = await sys.cli(['nodes', '--json']);
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(JSON.parse(nodes.stdout).map((n: { name: string; online: boolean }) => [n.name, n.online])).toContainEqual(['node-a', true]);
    // the API process is not a worker: it registers no node of its own
    expect(JSON.parse(nodes.stdout).map((n: { name: string }) => n.name)).not.toContain('api');
    expect(sys.api.pid).not.toBe(sys.workers.get('node-a')!.pid);
  });

  it('launch --wait, info, exec, logs, list, allocations through the CLI', async () => {
    const launch = await sys.cli([
      'launch',
      'web1',
      '--wait',
      '--json',
      '--',
      '/bin/sh',
      '-c',
      'echo hello-from-web1; trap "exit 0" TERM; while :; do sleep 1 & wait $!; done',
    ]);
    expect(launch.code, launch.stderr).toBe(0);
    const c = JSON.parse(launch.stdout) as Container;
    expect(c.state).toBe('running');
    expect(c.node).toBe('node-a');
    const uidBase = c.idmap.uid[0]!.hostId;
    expect(uidBase).toBeGreaterThanOrEqual(sys.uidStart);
    expect(uidBase + c.idmap.uid[0]!.count).toBeLessThanOrEqual(sys.uidStart + sys.slices * SLICE);
    // the map the kernel really has for the container's init, read in /proc by the host
    expect(readFileSync(`/proc/${c.pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number)).toEqual([0, uidBase, SLICE]);

    const info = await sys.cli(['info', 'web1', '--json']);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ name: 'web1', state: 'running', pid: c.pid });

    const id = await sys.cli(['exec', 'web1', '--', 'id', '-u']);
    expect(id.code, id.stderr).toBe(0);
    expect(id.stdout.trim()).toBe('0');
    const failing = await sys.cli(['exec', 'web1', '--', '/bin/sh', '-c', 'exit 3']);
    expect(failing.code).toBe(3); // the CLI passes the command's exit code through
    const json = await sys.cli(['exec', 'web1', '--json', '--', 'hostname']);
    expect(JSON.parse(json.stdout)).toMatchObject({ exitCode: 0, stdout: 'web1\n' });

    const logs = await eventually(
      async () => {
        const r = await sys.cli(['logs', 'web1']);
        return r.stdout.includes('hello-from-web1') ? r : undefined;
      },
      10_000,
      'the log line',
    );
    expect(logs.code).toBe(0);

    const list = await sys.cli(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+STATE/);
    expect(list.stdout).toContain(`${uidBase}-${uidBase + SLICE - 1}`);
    const allocations = JSON.parse((await sys.cli(['allocations', '--json'])).stdout) as Array<{
      container: string;
      uid: { start: number };
    }>;
    expect(allocations.find((a) => a.container === 'web1')?.uid.start).toBe(uidBase);
  });

  it('stop, start, restart and delete through the CLI; the slice is released', async () => {
    for (const verb of ['stop', 'start', 'restart']) {
      const r = await sys.cli([verb, 'web1', '--wait', '--timeout', '2']);
      expect(r.code, `${verb}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`${verb} done`);
    }
    expect((await sys.admin.get<Container>('/containers/web1')).state).toBe('running');
    const del = await sys.cli(['delete', 'web1', '--force', '--wait', '--json']);
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout).job.id).toBeTruthy();
    const gone = await sys.cli(['info', 'web1']);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/NOT_FOUND/);
    const { rows } = await sys.db.query("SELECT count(*)::int AS n FROM id_slice WHERE state = 'active'");
    expect(rows[0].n).toBe(0);
  });

  it('maps API errors to the documented exit codes', async () => {
    expect((await sys.cli(['info', 'nobody'])).code).toBe(3);
    expect((await sys.cli(['launch', 'Bad_Name'])).code).toBe(2);
    expect((await sys.cli(['list'], 'wrong-token')).code).toBe(7);
    expect((await sys.cli(['list'], '')).code).toBe(7);
    expect((await sys.cli(['frobnicate'])).code).toBe(2);
    expect((await sys.cli(['list', '--no-such-option'])).code).toBe(2);
    const viewer = JSON.parse((await sys.cli(['tokens', 'create', 'ro', '--role', 'viewer', '--json'])).stdout).token as string;
    const denied = await sys.cli(['launch', 'x1'], viewer);
    expect(denied.code).toBe(7);
    expect(denied.stderr).toMatch(/FORBIDDEN/);
    expect((await sys.cli(['list', '--json'], viewer)).code).toBe(0);
    await sys.cli(['launch', 'dup', '--wait']);
    const again = await sys.cli(['launch', 'dup']);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/CONFLICT/);
    expect((await sys.cli(['delete', 'dup', '--force', '--wait'])).code).toBe(0);
    // nothing answers on this URL: unavailable
    const down = await (await import('../support/system')).runCli(['list'], { NAGAYA_URL: 'http://127.0.0.1:1', NAGAYA_TOKEN: 'x' });
    expect(down.code).toBe(5);
  });

  it('many launches through the REST API land disjoint and all reach running', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `many${i}`);
    const created = await Promise.all(
      names.map((name) => sys.admin.post<{ job: { id: string } }>('/containers', { name, image: 'busybox' })),
    );
    for (const r of created) expect((await sys.admin.waitForJob(r.job.id, 60_000)).state).toBe('completed');
    const { containers } = await sys.admin.get<{ containers: Container[] }>('/containers');
    const bases = containers.filter((c) => c.name.startsWith('many')).map((c) => c.idmap.uid[0]!.hostId);
    expect(new Set(bases).size).toBe(names.length);
    await Promise.all(
      names.map(async (name) =>
        sys.admin.waitForJob((await sys.admin.delete<{ job: { id: string } }>(`/containers/${name}?force=1`)).job.id),
      ),
    );
  });
});
