import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { LaunchPlan } from '@nagaya/native';

import { busyboxImage, openTestRuntime } from './helpers';

// Validation itself is tested in plan.unit.test.ts; here, that the runtime applies it first.

const map = [{ nsId: 0, hostId: 1_700_000_000, count: 65536 }];

function plan(overrides: Partial<LaunchPlan> = {}): LaunchPlan {
  return { id: 'ok', image: busyboxImage(), argv: ['true'], uidMap: map, gidMap: map, ...overrides };
}

describe('refusing bad plans at the runtime', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'nagaya-plan-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('rejects before touching the state directory or the launcher', async () => {
    const { runtime, stateDir: dir, cleanup } = await openTestRuntime('plan');
    try {
      const err = await runtime.launch(plan({ id: 'bad', uidMap: [{ nsId: 0, hostId: 0, count: 1 }] })).catch((e) => e);
      expect(err).toMatchObject({ name: 'NativeError', code: 'INVALID_PLAN' });
      expect(existsSync(join(dir, 'containers', 'bad'))).toBe(false);
      expect(await runtime.running()).toEqual([]);
      await expect(runtime.exec('bad', [])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(runtime.stop('../etc', 0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      await cleanup();
    }
  });
});
