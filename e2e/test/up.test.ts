import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerRuntime } from '@nagaya/native';
import { PrivatePostgres, PrivateRedis, stopScriptRegistry } from '../support/private-services';
import { childEnv, eventually, freePort, randomUidStart, REPO, runCli, SLICE } from '../support/system';

/**
 * `npm run up` as a user runs it, started in the background on a private Postgres and Redis (its
 * ensure-services.sh makes a role and a password on them; the machine's shared ones are never
 * touched), a port, data directory, log file, subuid file and queue prefix of its own (never
 * /var/lib/nagaya or :8080), with NAGAYA_UP_BUILD=0 because the suite has already built the
 * tree, and a directory of its own for the `nagaya` symlink it puts on the PATH (never
 * /usr/local/bin) and NAGAYA_SYSTEMD=off (a unit is the machine's). Then the CLI it prints, from
 * the PATH; a second `npm run up` (restart: the running container is re-adopted); `nagaya down`,
 * `npm run up` again (re-adopted again) and `npm run down`.
 */

let postgres: PrivatePostgres;
let redis: PrivateRedis;
let dir: string;
let port: number;
let env: NodeJS.ProcessEnv;
const NODE = 'up-node';

beforeAll(async () => {
  // Redis as the machine's was before: no password (the script sets one)
  [postgres, redis] = await Promise.all([PrivatePostgres.start(), PrivateRedis.start({ legacy: true })]);
  dir = mkdtempSync(join(tmpdir(), 'nagaya-up-'));
  chmodSync(dir, 0o711);
  const start = await randomUidStart();
  writeFileSync(join(dir, 'subuid'), `root:${start}:${16 * SLICE}\n`);
  writeFileSync(join(dir, 'subgid'), `root:${start}:${16 * SLICE}\n`);
  port = await freePort();
  env = childEnv({
    PORT: String(port),
    PGPORT: String(postgres.port),
    PG_SOCKET_DIR: postgres.dir,
    REDIS_PORT: String(redis.port),
    REGISTRY_PORT: String(await freePort()),
    NAGAYA_DATA_DIR: join(dir, 'data'),
    NAGAYA_LOG_FILE: join(dir, 'nagaya.log'),
    NAGAYA_NODE_NAME: NODE,
    NAGAYA_QUEUE_PREFIX: `up${Date.now().toString(36)}`,
    NAGAYA_SUBUID_PATH: join(dir, 'subuid'),
    NAGAYA_SUBGID_PATH: join(dir, 'subgid'),
    NAGAYA_UP_BUILD: '0',
    NAGAYA_BIN_DIR: join(dir, 'bin'),
    NAGAYA_SYSTEMD: 'off',
    // no host bridge or nftables tables unless a test asks (they are the host's, shared)
    NAGAYA_HOST_NETWORK: 'off',
    NAGAYA_DEFAULT_NETWORK_MODE: 'none',
  });
}, 60_000);
afterAll(async () => {
  const pidFile = join(dir, 'data', 'nagaya.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const stateDir = join(dir, 'data', 'runtime', NODE);
  if (existsSync(stateDir)) await (await ContainerRuntime.open({ stateDir }).catch(() => undefined))?.shutdown().catch(() => undefined);
  await Promise.all([postgres?.destroy(), redis?.destroy()]);
  stopScriptRegistry(join(dir, 'data'));
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Runs a command to its end: its exit code and its output, stdout then stderr. */
function run(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, ...options, timeout: 300_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

const up = () => run('npm', ['run', 'up'], { cwd: REPO });

/** `nagaya ...` found on a PATH that starts with the directory `up` linked it into, run from `/`. */
const nagayaOnPath = (args: string[], extra: Record<string, string> = {}) =>
  run('nagaya', args, { cwd: '/', env: { ...env, ...extra, PATH: `${join(dir, 'bin')}:${env.PATH}` } });

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm run up', () => {
  it('brings nagaya up in the background and tells how to use it', async () => {
    const r = await up();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`http://127.0.0.1:${port}/`);
    expect(r.out).toMatch(/nagaya is up \(pid \d+/);
    expect(r.out).toMatch(/pool default/);
    const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8');
    expect(token).toMatch(/^ngy_/);
    expect(readFileSync(join(dir, 'data', 'nagaya.pid'), 'utf8')).toMatch(/^\d+\n?$/);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    // the dashboard is served at / when it was built
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect([200, 404]).toContain(page.status);
    // root's alone: the log, the token, the service credentials; and the API only on loopback
    expect(statSync(join(dir, 'nagaya.log')).mode & 0o777).toBe(0o640);
    expect(statSync(join(dir, 'data', 'admin-token')).mode & 0o777).toBe(0o600);
    for (const f of ['database-url', 'redis-url']) expect(statSync(join(dir, 'data', 'secrets', f)).mode & 0o777).toBe(0o600);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && !a.internal && a.family === 'IPv4');
    if (external) await expect(fetch(`http://${external.address}:${port}/healthz`)).rejects.toThrow();
  }, 300_000);

  it('puts nagaya on the PATH: a symlink to the checkout, and says so', async () => {
    const link = join(dir, 'bin', 'nagaya');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(join(REPO, 'packages/server/bin/nagaya.js'));
    const help = await nagayaOnPath(['--help']);
    expect(help.code, help.out).toBe(0);
    expect(help.out).toMatch(/^usage: nagaya <command>/);
    const again = await up();
    expect(again.out).toContain(`nagaya on the PATH: ${link} -> ${join(REPO, 'packages/server/bin/nagaya.js')}`);
  }, 300_000);

  it('serves the CLI it printed: launch --wait, exec, list', async () => {
    const cliEnv = { NAGAYA_URL: `http://127.0.0.1:${port}`, NAGAYA_TOKEN: readFileSync(join(dir, 'data', 'admin-token'), 'utf8') };
    const launch = await runCli(['launch', 'web1', '--wait', '--json'], cliEnv);
    expect(launch.code, launch.stderr).toBe(0);
    expect(JSON.parse(launch.stdout)).toMatchObject({ name: 'web1', state: 'running', node: NODE });
    const id = await runCli(['exec', 'web1', '--', 'id', '-u'], cliEnv);
    expect(id.stdout.trim()).toBe('0');
    const list = await runCli(['list'], cliEnv);
    expect(list.stdout).toMatch(/web1\s+running/);
  }, 120_000);

  it('run again, restarts nagaya; the running container is re-adopted', async () => {
    const cliEnv = { NAGAYA_URL: `http://127.0.0.1:${port}`, NAGAYA_TOKEN: readFileSync(join(dir, 'data', 'admin-token'), 'utf8') };
    const before = JSON.parse((await runCli(['info', 'web1', '--json'], cliEnv)).stdout) as { pid: number };
    const oldPid = Number(readFileSync(join(dir, 'data', 'nagaya.pid'), 'utf8'));
    const r = await up();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`restarting nagaya (pid ${oldPid})`);
    const newPid = Number(readFileSync(join(dir, 'data', 'nagaya.pid'), 'utf8'));
    expect(newPid).not.toBe(oldPid);
    const after = await eventually(
      async () => {
        const res = await runCli(['info', 'web1', '--json'], cliEnv);
        return res.code === 0 ? (JSON.parse(res.stdout) as { pid: number; state: string }) : undefined;
      },
      30_000,
      'web1 answered',
    );
    expect(after.state).toBe('running');
    expect(after.pid).toBe(before.pid);
    expect(readFileSync(join(dir, 'nagaya.log'), 'utf8')).toMatch(/api listening/);
  }, 300_000);

  it('nagaya down stops the service, not the containers; the next up re-adopts them; npm run down stops it again', async () => {
    const cliEnv = { NAGAYA_URL: `http://127.0.0.1:${port}`, NAGAYA_TOKEN: readFileSync(join(dir, 'data', 'admin-token'), 'utf8') };
    const container = JSON.parse((await runCli(['info', 'web1', '--json'], cliEnv)).stdout) as { pid: number };
    const servePid = Number(readFileSync(join(dir, 'data', 'nagaya.pid'), 'utf8'));

    const down = await nagayaOnPath(['down']);
    expect(down.code, down.out).toBe(0);
    expect(down.out).toContain(`nagaya stopped (pid ${servePid})`);
    expect(alive(servePid)).toBe(false);
    expect(existsSync(join(dir, 'data', 'nagaya.pid'))).toBe(false);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    expect(alive(container.pid)).toBe(true);

    const r = await up();
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain('restarting nagaya');
    const readopted = await eventually(
      async () => {
        const res = await runCli(['info', 'web1', '--json'], cliEnv);
        return res.code === 0 ? (JSON.parse(res.stdout) as { pid: number; state: string }) : undefined;
      },
      30_000,
      'web1 answered',
    );
    expect(readopted).toMatchObject({ state: 'running', pid: container.pid });

    const newPid = Number(readFileSync(join(dir, 'data', 'nagaya.pid'), 'utf8'));
    const npmDown = await run('npm', ['run', 'down'], { cwd: REPO });
    expect(npmDown.code, npmDown.out).toBe(0);
    expect(npmDown.out).toContain(`nagaya stopped (pid ${newPid})`);
    expect(alive(newPid)).toBe(false);
    expect(alive(container.pid)).toBe(true);
    const twice = await run('npm', ['run', 'down'], { cwd: REPO });
    expect(twice.code, twice.out).toBe(0);
    expect(twice.out).toContain('nagaya is not running');
  }, 300_000);
});
