import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, type ContainerView, type VolumeView } from '@nagaya/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../src/cli/api-client';
import { ADMIN_TOKEN, startTestFleet, type TestFleet } from './support/test-server';
import { eventually } from './support/test-helpers';

const CLI = join(__dirname, '..', 'dist', 'cli', 'nagaya.js');

/** Runs the built `nagaya` CLI against the fleet as its admin, in project alpha. */
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, NAGAYA_URL: fleet.url, NAGAYA_TOKEN: ADMIN_TOKEN, NAGAYA_PROJECT: 'alpha' } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

// Volumes end to end: real containers on real slices mount one volume through idmapped mounts.
// What is checked is what the kernel shows: owners on the host's disk, owners inside each
// container, EROFS, and the mount's own line in /proc/<pid>/mountinfo.

let fleet: TestFleet;
let alpha: ApiClient;
let hostDir: string;

interface ExecResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

const exec = (client: ApiClient, name: string, script: string) =>
  client.post<ExecResult>(`/containers/${name}/exec`, { command: ['/bin/sh', '-c', script] });

async function launch(client: ApiClient, name: string, mounts: unknown[]): Promise<ContainerView> {
  await client.post('/containers', { name, image: 'busybox', mounts });
  return eventually(
    async () => {
      const c = await client.get<ContainerView>(`/containers/${name}`);
      if (c.state === 'failed') throw new Error(`${name} failed: ${JSON.stringify(c.error)}`);
      return c.state === 'running' ? c : undefined;
    },
    30_000,
    `${name} running`,
  );
}

async function remove(client: ApiClient, name: string): Promise<void> {
  await client.delete(`/containers/${name}?force=1`);
  await eventually(
    () =>
      client.get(`/containers/${name}`).then(
        () => undefined,
        (err: unknown) => (err instanceof ApiError && err.code === 'NOT_FOUND' ? true : undefined),
      ),
    30_000,
    `${name} deleted`,
  );
}

/** The host uid a container's root is: the start of its slice. */
const rootOf = (c: ContainerView) => c.idmap.uid.find((l) => l.nsId === 0)!.hostId;

/** The line of /proc/<pid>/mountinfo whose mount point (in the container) is `target`. */
function mountLine(pid: number, target: string): string {
  const line = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === target);
  if (!line) throw new Error(`no mount at ${target} in /proc/${pid}/mountinfo`);
  return line;
}

beforeAll(async () => {
  fleet = await startTestFleet({ slices: 16 });
  await fleet.admin.post('/projects', { name: 'alpha' });
  const created = await fleet.admin.post<{ token: string }>('/tokens', { name: 'alpha-op', role: 'operator', project: 'alpha' });
  alpha = fleet.client(created.token);
  hostDir = mkdtempSync(join(tmpdir(), 'nagaya-hostpath-'));
  chmodSync(hostDir, 0o755); // others may enter, as a container's root is to the host without shift
}, 60_000);
afterAll(async () => {
  await fleet?.stop();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
});

describe('a volume shared by containers of different slices', () => {
  let volume: VolumeView;
  let dir: string;

  it('is written by two containers; both files are 0:0 on the host and root:root in each container', async () => {
    volume = await alpha.post<VolumeView>('/volumes', { name: 'shared' });
    dir = join(fleet.base.dataDir, 'volumes', 'alpha', volume.id);
    const one = await launch(alpha, 'one', [{ volume: 'shared', path: '/data' }]);
    const two = await launch(alpha, 'two', [{ volume: 'shared', path: '/srv/data' }]);
    expect(rootOf(one)).not.toBe(rootOf(two)); // two slices
    expect(one.mounts).toEqual([{ volume: 'shared', path: '/data', readOnly: false }]);

    expect((await exec(alpha, 'one', 'echo from-one > /data/one && mkdir /data/sub && echo deep > /data/sub/f')).exitCode).toBe(0);
    expect((await exec(alpha, 'two', 'echo from-two > /srv/data/two')).exitCode).toBe(0);

    // on the host: stored once, container-relative (0, not either slice's root), never chowned
    for (const f of ['one', 'two', 'sub', 'sub/f']) {
      const s = statSync(join(dir, f));
      expect([f, s.uid, s.gid]).toEqual([f, 0, 0]);
    }
    expect(readFileSync(join(dir, 'two'), 'utf8')).toBe('from-two\n');
    // in each container, both files belong to its own root
    const inOne = await exec(alpha, 'one', 'stat -c "%u:%g %n" /data/one /data/two /data/sub/f && cat /data/two');
    expect(inOne.stdout).toBe('0:0 /data/one\n0:0 /data/two\n0:0 /data/sub/f\nfrom-two\n');
    const inTwo = await exec(alpha, 'two', 'stat -c "%u:%g" /srv/data/one /srv/data/two && cat /srv/data/one');
    expect(inTwo.stdout).toBe('0:0\n0:0\nfrom-one\n');
    // a non-root user of the container writes as itself: 1000 inside, 1000 on the disk
    expect((await exec(alpha, 'one', 'chown 1000:1000 /data/sub && echo ok')).stdout).toBe('ok\n');
    expect(statSync(join(dir, 'sub')).uid).toBe(1000);

    // the kernel says it: an idmapped mount in each container's mount namespace
    expect(mountLine(one.pid!, '/data')).toMatch(/idmapped/);
    expect(mountLine(two.pid!, '/srv/data')).toMatch(/idmapped/);

    const shown = await alpha.get<VolumeView>('/volumes/shared');
    expect(shown.mountedBy.map((u) => u.container).sort()).toEqual(['one', 'two']);
    expect(shown.usedBytes).toBeGreaterThan(0);
  }, 90_000);

  it('is read-only for a third container that mounts it readOnly', async () => {
    const three = await launch(alpha, 'three', [{ volume: 'shared', path: '/data', readOnly: true }]);
    const write = await exec(alpha, 'three', 'echo no > /data/three');
    expect(write.exitCode).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);
    expect((await exec(alpha, 'three', 'cat /data/one')).stdout).toBe('from-one\n');
    expect(mountLine(three.pid!, '/data')).toMatch(/(^|[ ,])ro[ ,]/);
    await remove(alpha, 'three');
  }, 60_000);

  it('survives its containers; a new container mounts it; it cannot be deleted while mounted', async () => {
    const busy = await alpha.delete('/volumes/shared').then(
      () => undefined,
      (err: unknown) => err as ApiError,
    );
    expect([busy?.status, busy?.code]).toEqual([409, 'CONFLICT']);
    await remove(alpha, 'one');
    await remove(alpha, 'two');
    expect(readFileSync(join(dir, 'one'), 'utf8')).toBe('from-one\n');
    await launch(alpha, 'again', [{ volume: 'shared', path: '/data' }]);
    expect((await exec(alpha, 'again', 'cat /data/one /data/two && stat -c %u:%g /data/one')).stdout).toBe('from-one\nfrom-two\n0:0\n');
    // a stopped container still mounts it: still refused
    await alpha.post('/containers/again/stop');
    await eventually(async () => ((await alpha.get<ContainerView>('/containers/again')).state === 'stopped' ? true : undefined), 30_000);
    expect((await alpha.delete('/volumes/shared').catch((err: ApiError) => err)) as ApiError).toMatchObject({ code: 'CONFLICT' });
    await remove(alpha, 'again');
    await alpha.delete('/volumes/shared');
    expect(() => statSync(dir)).toThrow();
  }, 90_000);
});

describe('a volume and a restart policy', () => {
  it('is mounted again, idmapped, when its container is brought back after its init is killed', async () => {
    await alpha.post('/volumes', { name: 'kept' });
    await alpha.post('/containers', {
      name: 'phoenix',
      image: 'busybox',
      restartPolicy: { name: 'always' },
      mounts: [{ volume: 'kept', path: '/kept' }],
    });
    const first = await eventually(async () => {
      const c = await alpha.get<ContainerView>('/containers/phoenix');
      return c.state === 'running' ? c : undefined;
    }, 30_000);
    expect((await exec(alpha, 'phoenix', 'echo before > /kept/f')).exitCode).toBe(0);
    process.kill(first.pid!, 'SIGKILL');
    const again = await eventually(
      async () => {
        const c = await alpha.get<ContainerView>('/containers/phoenix');
        return c.state === 'running' && c.pid !== first.pid ? c : undefined;
      },
      30_000,
      'phoenix back',
    );
    expect(again.restartCount).toBe(1);
    expect(rootOf(again)).toBe(rootOf(first)); // the same slice
    expect(mountLine(again.pid!, '/kept')).toMatch(/idmapped/);
    expect((await exec(alpha, 'phoenix', 'cat /kept/f && stat -c %u:%g /kept/f')).stdout).toBe('before\n0:0\n');
    await remove(alpha, 'phoenix');
    await alpha.delete('/volumes/kept');
  }, 60_000);
});

describe('host paths (admin tokens of every project)', () => {
  it('without shift: bind-mounted as it is, host-owned files appear as nobody and root of the container cannot write', async () => {
    writeFileSync(join(hostDir, 'host-file'), 'host\n');
    chownSync(join(hostDir, 'host-file'), 0, 0);
    const c = await launch(fleet.admin, 'plain', [{ hostPath: hostDir, path: '/host' }]);
    expect(c.mounts).toEqual([{ hostPath: hostDir, path: '/host', readOnly: false, shift: false }]);
    const seen = await exec(fleet.admin, 'plain', 'stat -c %u:%g /host/host-file && cat /host/host-file; touch /host/new');
    expect(seen.stdout).toBe('65534:65534\nhost\n');
    expect(seen.stderr).toMatch(/Permission denied|Read-only|Operation not permitted/);
    expect(mountLine(c.pid!, '/host')).not.toMatch(/idmapped/);
    await remove(fleet.admin, 'plain');
  }, 60_000);

  it("with shift: its owners 0..65535 are idmapped onto the slice, as a volume's", async () => {
    const c = await launch(fleet.admin, 'shifted', [{ hostPath: hostDir, path: '/host', shift: true }]);
    const seen = await exec(fleet.admin, 'shifted', 'stat -c %u:%g /host/host-file && echo mine > /host/from-container && echo ok');
    expect(seen.stdout).toBe('0:0\nok\n');
    const written = statSync(join(hostDir, 'from-container'));
    expect([written.uid, written.gid]).toEqual([0, 0]);
    expect(mountLine(c.pid!, '/host')).toMatch(/idmapped/);
    await remove(fleet.admin, 'shifted');
  }, 60_000);

  it('fails the launch of a host path that is not a directory on the node, for good', async () => {
    await fleet.admin.post('/containers', {
      name: 'nodir',
      image: 'busybox',
      mounts: [{ hostPath: join(hostDir, 'missing'), path: '/m' }],
    });
    const failed = await eventually(async () => {
      const c = await fleet.admin.get<ContainerView>('/containers/nodir');
      return c.state === 'failed' ? c : undefined;
    }, 30_000);
    expect(failed.error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/is not a directory on node node-a/) });
    await fleet.admin.delete('/containers/nodir');
  }, 60_000);
});

describe('the CLI', () => {
  it('creates, lists, shows and deletes volumes, and launches with --mount', async () => {
    expect((await cli('volumes', 'create', 'cli-vol')).stdout).toMatch(/^volume cli-vol created in project alpha on node node-a/);
    const launched = await cli('launch', 'cli-user', '--mount', 'volume:cli-vol:/v', '--mount', `host:${hostDir}:/h:ro:shift`, '--wait');
    expect(launched.code, launched.stderr).toBe(0);
    const wrote = await cli('exec', 'cli-user', '--', '/bin/sh', '-c', 'echo hi > /v/f && stat -c %u /h/host-file');
    expect([wrote.code, wrote.stdout]).toEqual([0, '0\n']);
    const info = await cli('info', 'cli-user');
    expect(info.stdout).toContain('  mount volume cli-vol at /v');
    expect(info.stdout).toContain(`  mount host ${hostDir} at /h (read-only) (shifted)`);
    const shown = JSON.parse((await cli('volumes', 'show', 'cli-vol', '--json')).stdout) as VolumeView;
    expect(shown.mountedBy).toEqual([{ container: 'cli-user', path: '/v', readOnly: false }]);
    expect((await cli('volumes', 'list')).stdout).toMatch(/cli-vol\s+node-a\s+\S+\s+-\s+cli-user/);
    // refusals keep their exit codes: CONFLICT 4, INVALID_INPUT 2
    const busy = await cli('volumes', 'delete', 'cli-vol');
    expect([busy.code, busy.stderr]).toEqual([4, expect.stringMatching(/CONFLICT: volume cli-vol is mounted by container cli-user/)]);
    const sized = await cli('volumes', 'create', 'sized', '--size', '1Gi');
    expect([sized.code, sized.stderr]).toEqual([2, expect.stringMatching(/INVALID_INPUT: node node-a cannot limit a volume's size/)]);
    expect((await cli('launch', 'bad', '--mount', 'volume:cli-vol')).code).toBe(2);
    expect((await cli('delete', 'cli-user', '--force', '--wait')).code).toBe(0);
    expect((await cli('volumes', 'delete', 'cli-vol')).stdout).toBe('volume cli-vol deleted\n');
  }, 90_000);
});
