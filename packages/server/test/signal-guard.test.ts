import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SIGNAL_GUARD_MESSAGE } from '../../../vitest.signal-guard';
import { launcherPidOf } from '../../native/test/helpers';

// The integration tier's guard (vitest.signal-guard.ts): a kill that would reach the test
// runner's own process group throws. Signal 0 only asks whether the target exists, so a guard
// that stopped refusing would let these calls return true and the tests fail, with nothing harmed.

describe('the integration tier signal guard', () => {
  it('refuses pid 0, pid -1 and the runner’s own group, whatever the signal', () => {
    expect(() => process.kill(0, 0)).toThrow(SIGNAL_GUARD_MESSAGE);
    expect(() => process.kill(-1, 0)).toThrow(SIGNAL_GUARD_MESSAGE);
    expect(() => process.kill(Number(''), 0)).toThrow(SIGNAL_GUARD_MESSAGE);
    expect(() => process.kill(Number.NaN, 0)).toThrow(SIGNAL_GUARD_MESSAGE);
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    expect(() => process.kill(-group, 0)).toThrow(SIGNAL_GUARD_MESSAGE);
  });

  it('still signals a single process, and the group of a detached child', async () => {
    const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    expect(process.kill(child.pid!, 0)).toBe(true);
    process.kill(-child.pid!, 'SIGKILL');
    expect(await exited).toBe('SIGKILL');
  });

  it('launcherPidOf refuses a pid file that names no pid rather than answer 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nagaya-signal-guard-'));
    try {
      writeFileSync(join(dir, 'launcher.pid'), '');
      expect(() => launcherPidOf(dir)).toThrow(/no launcher pid/);
      writeFileSync(join(dir, 'launcher.pid'), '0 0\n');
      expect(() => launcherPidOf(dir)).toThrow(/no launcher pid/);
      writeFileSync(join(dir, 'launcher.pid'), '4242 123\n');
      expect(launcherPidOf(dir)).toBe(4242);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
