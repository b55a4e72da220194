import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listContainerRecords, NativeError, readContainerRecord } from '@nagaya/native';

const LAUNCHER_SRC = join(__dirname, '../src/launcher');

describe('state files the launcher writes', () => {
  let scratch: string;
  let probe: string;

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'nagaya-state-records-'));
    probe = join(scratch, 'state-file-probe');
    const sources = ['state_files.c', 'json_text.c', 'write_text.c'].map((f) => join(LAUNCHER_SRC, f));
    const driver = join(__dirname, 'fixtures/state-file-probe.c');
    execFileSync('gcc', ['-std=gnu11', '-O1', '-Wall', '-I', LAUNCHER_SRC, '-o', probe, driver, ...sources], { stdio: 'pipe' });
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** Writes state.json and exit.json with the launcher's code; returns the cgroups it read back. */
  function writeAndReadBack(dir: string, id: string, cgroups: string[]): string[] {
    mkdirSync(dir, { recursive: true });
    const out = execFileSync(probe, [dir, id, ...cgroups], { encoding: 'utf8' });
    return out.split('\0').slice(0, -1);
  }

  it('escapes cgroup paths into valid JSON that round-trips, through JSON.parse and through the launcher itself', () => {
    const cgroups = [
      '/sys/fs/cgroup/pids/system.slice/nagaya\\x2dworker.service/nagaya/0badf00d/web-1', // systemd's escape
      '/sys/fs/cgroup/memory/quote"and\\back\\\\slash/c',
      `/sys/fs/cgroup/cpu/ctl${Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('')}\x7f/é漢/c`,
    ];
    const dir = join(scratch, 'containers', 'web-1');
    expect(writeAndReadBack(dir, 'web-1', cgroups)).toEqual(cgroups);

    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    expect(state).toMatchObject({ id: 'web-1', pid: 4242, startTime: '123456789', cgroups, nesting: true });
    const exit = JSON.parse(readFileSync(join(dir, 'exit.json'), 'utf8'));
    expect(exit).toMatchObject({ id: 'web-1', exitCode: null, signal: 9, oomKilled: false, lost: true });
    expect(readContainerRecord(scratch, 'web-1')).toMatchObject({ state: 'exited', cgroups, exit: { signal: 'SIGKILL', lost: true } });
  });

  it('keeps an empty cgroup list empty', () => {
    const dir = join(scratch, 'containers', 'bare');
    expect(writeAndReadBack(dir, 'bare', [])).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).cgroups).toEqual([]);
  });
});

describe('reading container records', () => {
  let stateDir: string;

  beforeAll(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'nagaya-corrupt-records-'));
  });
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  it('fails loudly on a record that is not JSON, naming the file, instead of treating the container as absent', () => {
    const dir = join(stateDir, 'containers', 'broken');
    mkdirSync(dir, { recursive: true });
    // what an unescaped systemd path made of state.json before
    writeFileSync(join(dir, 'state.json'), '{"id":"broken","pid":1,"startTime":"1","cgroups":["/sys/fs/cgroup/a\\x2db"]}\n');
    const thrown = (() => {
      try {
        readContainerRecord(stateDir, 'broken');
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(thrown).toBeInstanceOf(NativeError);
    expect(thrown).toMatchObject({ code: 'CORRUPT_RECORD' });
    expect((thrown as NativeError).message).toContain(join(dir, 'state.json'));
    expect(() => listContainerRecords(stateDir)).toThrow(/state\.json/);

    writeFileSync(join(dir, 'state.json'), '{"id":"broken","pid":1,"startTime":"1","cgroups":[]}\n');
    writeFileSync(join(dir, 'exit.json'), '{"id":"broken","exitCode":0,'); // cut short
    expect(() => readContainerRecord(stateDir, 'broken')).toThrow(expect.objectContaining({ code: 'CORRUPT_RECORD' }));
  });

  it('still reads a container without records as created', () => {
    mkdirSync(join(stateDir, 'containers', 'fresh'), { recursive: true });
    expect(readContainerRecord(stateDir, 'fresh')).toMatchObject({ id: 'fresh', state: 'created' });
  });
});
