import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { NativeError } from '../src/errors';
import { encodeLaunchRequest } from '../src/launcher-messages';
import { MAX_RUN_OUTPUT_LIMIT_BYTES, MAX_RUN_STDIN_BYTES, MAX_RUN_TIMEOUT_MS, resolveLaunchPlan, type LaunchPlan } from '../src/plan';
import { decodeMessage } from '../src/protocol';

// Validation only stats the image, so any directory stands in for one.
const image = mkdtempSync(join(tmpdir(), 'nagaya-runs-plan-image-'));
afterAll(() => rmSync(image, { recursive: true, force: true }));

const stateDir = '/var/lib/nagaya-test-state';
const map = [{ nsId: 0, hostId: 1_700_000_000, count: 65536 }];
const plan = (overrides: Partial<LaunchPlan> = {}): LaunchPlan => ({
  id: 'run',
  image,
  argv: ['true'],
  uidMap: map,
  gidMap: map,
  ...overrides,
});

function problemsOf(p: LaunchPlan): string[] {
  try {
    resolveLaunchPlan(p, stateDir);
  } catch (err) {
    expect((err as NativeError).code).toBe('INVALID_PLAN');
    return (err as NativeError).details as string[];
  }
  return [];
}

describe('run options of a launch plan', () => {
  it('leaves a plain plan and its launch request exactly as before', () => {
    const resolved = resolveLaunchPlan(plan(), stateDir);
    expect(resolved).not.toHaveProperty('timeoutMs');
    expect(resolved).not.toHaveProperty('outputLimitBytes');
    expect(resolved).not.toHaveProperty('stdinFile');
    const msg = decodeMessage(encodeLaunchRequest('1', resolved));
    for (const key of ['timeout_ms', 'output_limit', 'stdin']) expect(msg.get(key)).toBeUndefined();
  });

  it('carries timeout, output limit and the stdin file to the launcher', () => {
    const resolved = resolveLaunchPlan(plan({ timeoutMs: 1000, outputLimitBytes: 0, stdin: Buffer.from('x') }), stateDir);
    expect(resolved).toMatchObject({ timeoutMs: 1000, outputLimitBytes: 0, stdinFile: join(stateDir, 'containers', 'run', 'stdin') });
    const msg = decodeMessage(encodeLaunchRequest('1', resolved));
    expect([msg.get('timeout_ms'), msg.get('output_limit'), msg.get('stdin')]).toEqual(['1000', '0', resolved.stdinFile]);
  });

  it('takes the edges and refuses one past them', () => {
    expect(
      problemsOf(plan({ timeoutMs: 1, outputLimitBytes: MAX_RUN_OUTPUT_LIMIT_BYTES, stdin: Buffer.alloc(MAX_RUN_STDIN_BYTES) })),
    ).toEqual([]);
    expect(problemsOf(plan({ timeoutMs: MAX_RUN_TIMEOUT_MS }))).toEqual([]);
    expect(problemsOf(plan({ timeoutMs: MAX_RUN_TIMEOUT_MS + 1 }))).toHaveLength(1);
    expect(problemsOf(plan({ timeoutMs: 0 }))).toHaveLength(1);
    expect(problemsOf(plan({ timeoutMs: Number.NaN }))).toHaveLength(1);
    expect(problemsOf(plan({ outputLimitBytes: MAX_RUN_OUTPUT_LIMIT_BYTES + 1 }))).toHaveLength(1);
    expect(problemsOf(plan({ outputLimitBytes: 0.5 }))).toHaveLength(1);
    expect(problemsOf(plan({ stdin: Buffer.alloc(MAX_RUN_STDIN_BYTES + 1) }))).toHaveLength(1);
    expect(problemsOf(plan({ stdin: [1, 2] as unknown as Buffer }))).toHaveLength(1);
  });

  it('lists every run problem at once, beside the plan’s others', () => {
    const problems = problemsOf(plan({ argv: [], timeoutMs: -1, outputLimitBytes: -1 }));
    expect(problems.filter((p) => /timeoutMs|outputLimitBytes/.test(p))).toHaveLength(2);
    expect(problems.length).toBeGreaterThan(2);
  });
});
