import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type ContainerRuntime, isSameProcess } from '@nagaya/native';

import { launcherSocketPath } from '../src/launcher-daemon';
import { loadAddon, type LauncherConnectionHandle } from '../src/loader';
import { decodeMessage, encodeMessage, type Field } from '../src/protocol';
import { busyboxImage, busyboxPlan, openTestRuntime, slice } from './helpers';

// Host ids for this file: 1_870_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_870_000_000;
const EINVAL = 22;

describe('numeric fields of launcher requests', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;
  let conn: LauncherConnectionHandle;
  const waiting = new Map<string, (fields: Record<string, string | undefined>) => void>();
  let nextReq = 1;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('request-fields'));
    conn = new (loadAddon().LauncherConnection)(launcherSocketPath(stateDir), (msg) => {
      if (msg === null) return;
      const m = decodeMessage(msg);
      const req = m.get('req');
      if (req === undefined) return; // exit events
      waiting.get(req)?.({ type: m.get('type'), step: m.get('step'), syscall: m.get('syscall'), errno: m.get('errno') });
      waiting.delete(req);
    });
  });
  afterAll(async () => {
    conn?.close();
    await cleanup();
  });

  /** Sends a request as the client would, with the fields given; resolves with the reply. */
  function ask(fields: Field[]): Promise<Record<string, string | undefined>> {
    const req = `raw-${nextReq++}`;
    return new Promise((resolve) => {
      waiting.set(req, resolve);
      conn.send(encodeMessage([['req', req], ...fields]));
    });
  }

  it('answers EINVAL naming the field for a number that is not one, and does nothing with it', async () => {
    const sleeper = await runtime.launch(busyboxPlan('sleeper', ['sleep', '600'], slice(BASE, 0)));
    const refused = (field: string) => ({ type: 'error', step: 'parse-request', syscall: field, errno: String(EINVAL) });

    // atoll would have read "abc" as 0: SIGKILL at once
    expect(
      await ask([
        ['op', 'stop'],
        ['id', 'sleeper'],
        ['timeout_ms', 'abc'],
      ]),
    ).toEqual(refused('timeout_ms'));
    expect(
      await ask([
        ['op', 'stop'],
        ['id', 'sleeper'],
        ['timeout_ms', '-5'],
      ]),
    ).toEqual(refused('timeout_ms'));
    expect(
      await ask([
        ['op', 'stop'],
        ['id', 'sleeper'],
        ['timeout_ms', ''],
      ]),
    ).toEqual(refused('timeout_ms'));
    for (const signal of ['0', '65', '15x']) {
      expect(
        await ask([
          ['op', 'stop'],
          ['id', 'sleeper'],
          ['timeout_ms', '1000'],
          ['signal', signal],
        ]),
      ).toEqual(refused('signal'));
    }
    // atoi would have read "9x" as 9
    expect(
      await ask([
        ['op', 'kill'],
        ['id', 'sleeper'],
        ['signal', '9x'],
      ]),
    ).toEqual(refused('signal'));
    expect(
      await ask([
        ['op', 'kill'],
        ['id', 'sleeper'],
        ['signal', '65'],
      ]),
    ).toEqual(refused('signal'));
    expect(
      await ask([
        ['op', 'exec'],
        ['id', 'sleeper'],
        ['argv', 'true'],
        ['exe', '/bin/true'],
        ['output_limit', ' 10'],
      ]),
    ).toEqual(refused('output_limit'));
    expect(
      await ask([
        ['op', 'exec'],
        ['id', 'sleeper'],
        ['argv', 'true'],
        ['exe', '/bin/true'],
        ['timeout_ms', '1e3'],
      ]),
    ).toEqual(refused('timeout_ms'));
    expect(
      await ask([
        ['op', 'bound-pids'],
        ['id', 'sleeper'],
        ['pids', '12abc'],
      ]),
    ).toEqual(refused('pids'));
    expect(
      await ask([
        ['op', 'bound-pids'],
        ['id', 'sleeper'],
        ['pids', '99999999999999999999'],
      ]),
    ).toEqual(refused('pids'));
    expect(isSameProcess(sleeper.pid, sleeper.startTime)).toBe(true);

    // well-formed numbers still work
    expect(
      await ask([
        ['op', 'kill'],
        ['id', 'sleeper'],
        ['signal', '0'],
      ]),
    ).toMatchObject({ type: 'ok' });
    expect(await runtime.stop('sleeper', 0)).toMatchObject({ signal: 'SIGKILL' });
  });

  it('refuses a launch whose limit or rlimit is not a number, before anything is created', async () => {
    const dir = join(stateDir, 'containers', 'badlimit');
    const launch = (extra: Field[]): Field[] => [
      ['op', 'launch'],
      ['id', 'badlimit'],
      ...(['container_dir', 'upper', 'work', 'rootfs', 'log'] as const).map((k): Field => [k, join(dir, k)]),
      ['layer', busyboxImage()],
      ['hostname', 'badlimit'],
      ['cwd', '/'],
      ['argv', 'true'],
      ['exe', '/bin/true'],
      ['uidmap', `0 ${BASE + 65536} 65536`],
      ['gidmap', `0 ${BASE + 65536} 65536`],
      ['pids', 10],
      ...extra,
    ];
    const refused = (field: string) => ({ type: 'error', step: 'parse-request', syscall: field, errno: String(EINVAL) });
    expect(await ask(launch([['memory', '64M']]))).toEqual(refused('memory'));
    expect(
      await ask(
        launch([
          ['cpu_quota', '5000'],
          ['cpu_period', ''],
        ]),
      ),
    ).toEqual(refused('cpu_period'));
    // sscanf("%d:%llu") would have taken the 12 and launched
    expect(await ask(launch([['rlimit', '7:12abc']]))).toEqual(refused('rlimit'));
    expect(await ask(launch([['rlimit', '99:12']]))).toEqual(refused('rlimit'));
    // a user beyond the container's 65536 IDs, or not a number
    expect(await ask(launch([['run_uid', '65536']]))).toEqual(refused('run_uid'));
    expect(await ask(launch([['run_gid', '-1']]))).toEqual(refused('run_gid'));
    expect(existsSync(dir)).toBe(false);
  });
});
