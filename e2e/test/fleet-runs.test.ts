import type { RunOutputView, RunView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launcherPidOf } from '../../packages/native/test/helpers';
import { problems, runProblems, snapshot } from '../support/invariants';
import { eventually, NagayaSystem } from '../support/system';

/**
 * Runs on a node that dies (issue 16 with issue 12's fencing), with two worker nodes: node-b is
 * killed whole (worker, launcher and the runs' processes, SIGKILL) while it runs two runs. Until
 * the admin removes it as dead they stay running (its host may still run them); `nodes remove
 * --dead` settles them at once: the run with a retry left runs again in a fresh container on
 * node-a and succeeds, the other fails with NODE_LOST, and the slices of the lost attempts stay
 * fenced until `--release-slices`. A run queued for node-b, where the volume it mounts is, fails
 * NODE_LOST at the removal rather than wait for good.
 */

const NODES = ['node-a', 'node-b'];

let sys: NagayaSystem;
beforeAll(async () => {
  sys = await NagayaSystem.start({ slices: 32, nodes: NODES, env: { NAGAYA_SWEEP_MS: '500' } });
  await sys.db.query('UPDATE id_pool SET quarantine_seconds = 0');
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

const run = (id: string) => sys.admin.get<RunView>(`/runs/${id}`);

describe('the runs of a node killed whole', () => {
  it('stay running until the node is removed as dead; then one with a retry left succeeds on a live node, the other fails NODE_LOST', async () => {
    // only node-b takes runs while node-a's worker is away
    await sys.killWorker('node-a', 'SIGTERM');
    const submit = (retries: number) =>
      sys.admin.post<{ run: RunView }>('/runs', {
        image: 'busybox',
        command: ['/bin/sh', '-c', 'sleep 4; echo finished'],
        timeoutSeconds: 60,
        retries,
      });
    const once = (await submit(0)).run;
    const retried = (await submit(1)).run;
    // and one that waits its turn on node-b, where the volume it mounts is
    await sys.admin.post('/volumes', { name: 'on-b', node: 'node-b' });
    const pinned = (
      await sys.admin.post<{ run: RunView }>('/runs', {
        image: 'busybox',
        command: ['true'],
        timeoutSeconds: 60,
        delaySeconds: 600,
        mounts: [{ volume: 'on-b', path: '/b' }],
      })
    ).run;
    expect([pinned.state, pinned.node]).toEqual(['queued', 'node-b']);
    const onB = await eventually(
      async () => {
        const both = await Promise.all([run(once.id), run(retried.id)]);
        return both.every((r) => r.state === 'running' && r.slice !== null) ? both : undefined;
      },
      30_000,
      'both runs running on node-b',
    );
    for (const r of onB) expect(r.node).toBe('node-b');
    const { rows: attempts } = await sys.db.query<{ id: string; pid: number }>(
      `SELECT id, pid FROM container WHERE kind = 'run' AND node = 'node-b' AND state = 'running'`,
    );
    expect(attempts).toHaveLength(2);

    // node-b dies whole; node-a comes back
    await sys.killWorker('node-b', 'SIGKILL');
    process.kill(launcherPidOf(sys.stateDir('node-b')), 'SIGKILL');
    for (const a of attempts) process.kill(a.pid, 'SIGKILL');
    await sys.startWorker('node-a');

    // offline, but not removed: nobody knows that its runs are gone, so they stay running
    await eventually(
      async () =>
        (await sys.admin.get<{ nodes: Array<{ name: string; online: boolean }> }>('/nodes')).nodes.find((n) => n.name === 'node-b')
          ?.online === false
          ? true
          : undefined,
      15_000,
      'node-b offline',
    );
    await new Promise((r) => setTimeout(r, 1000));
    for (const r of onB) expect((await run(r.id)).state).toBe('running');

    const removed = await sys.cli(['nodes', 'remove', 'node-b', '--dead', '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    const view = JSON.parse(removed.stdout) as { lost: unknown[]; runs: Array<{ id: string; state: string }> };
    expect(view.lost).toHaveLength(2);
    expect(view.runs.sort((a, b) => a.id.localeCompare(b.id))).toEqual(
      [
        { project: 'default', id: once.id, state: 'failed' },
        { project: 'default', id: retried.id, state: 'queued' },
        { project: 'default', id: pinned.id, state: 'failed' },
      ].sort((a, b) => a.id.localeCompare(b.id)),
    );
    // the queued one could only ever run beside its volume: it fails rather than wait for good
    expect(await run(pinned.id)).toMatchObject({
      state: 'failed',
      attempt: 0,
      error: { code: 'NODE_LOST', message: 'the node of its volumes, node-b, was removed as dead before it ran' },
    });

    const failed = await sys.admin.get<RunView>(`/runs/${once.id}/wait?timeoutSeconds=5`);
    expect(failed).toMatchObject({ state: 'failed', attempt: 1, node: 'node-b', error: { code: 'NODE_LOST' } });
    const again = await sys.admin.get<RunView>(`/runs/${retried.id}/wait?timeoutSeconds=60`);
    expect(again).toMatchObject({ state: 'succeeded', exitCode: 0, attempt: 2, node: 'node-a', error: null });
    expect(again.slice!.uidStart).not.toBe(onB.find((r) => r.id === retried.id)!.slice!.uidStart);
    const output = await sys.admin.get<RunOutputView>(`/runs/${retried.id}/output`);
    expect(output.stdout).toBe('finished\n');

    // the lost attempts' slices are fenced, not free, until the admin releases them
    const fenced = await sys.db.query<{ owner: string }>(`SELECT owner FROM id_slice WHERE fenced_node = 'node-b' ORDER BY owner`);
    expect(fenced.rows.map((r) => r.owner)).toEqual(attempts.map((a) => a.id).sort());
    const released = await sys.cli(['nodes', 'remove', 'node-b', '--dead', '--release-slices', '--json']);
    expect(released.code, released.stderr).toBe(0);
    expect((await sys.db.query(`SELECT 1 FROM id_slice WHERE fenced_node IS NOT NULL`)).rowCount).toBe(0);

    // node-a holds nothing of them; the lost attempts' rows stay, lost, until node-b comes back
    const s = await snapshot(sys, ['node-a']);
    expect(problems(s)).toEqual([]);
    expect(runProblems(s)).toEqual([]);
    const { rows: left } = await sys.db.query<{ id: string; state: string }>(
      `SELECT id, state FROM container WHERE kind = 'run' ORDER BY id`,
    );
    expect(left).toEqual(attempts.map((a) => ({ id: a.id, state: 'lost' })).sort((a, b) => a.id.localeCompare(b.id)));
  }, 180_000);
});
