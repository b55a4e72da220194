import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerView } from '@nagaya/contract';
import { cgroupDirOf } from '../../packages/native/test/helpers';
import { NagayaSystem, REPO } from '../support/system';

/**
 * The `nagaya` command itself: npm links it in the checkout (`npx nagaya`), sizes take units
 * (`--memory 512M` is 512 MiB in the kernel's cgroup, not zod's "expected number, received
 * null"), a bad number is a sentence naming the flag, and `list --node` lists that node's alone.
 */

let sys: NagayaSystem;
beforeAll(async () => {
  sys = await NagayaSystem.start({ slices: 8, nodes: ['node-a', 'node-b'] });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

describe('the nagaya bin in the checkout', () => {
  it('is linked by npm to the committed wrapper, and npx runs it from the repository root', async () => {
    expect(realpathSync(join(REPO, 'node_modules/.bin/nagaya'))).toBe(join(REPO, 'packages/server/bin/nagaya.js'));
    const r = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile('npx', ['--no-install', 'nagaya', '--help'], { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      ),
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^usage: nagaya <command>/);
  });
});

describe('sizes and filters', () => {
  it('launch --memory 512M sets 536870912 bytes, in the API and in the container cgroup', async () => {
    const r = await sys.cli(['launch', 'sized', '--node', 'node-a', '--memory', '512M', '--wait', '--json', '--', 'sleep', '600']);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout) as ContainerView;
    expect(c).toMatchObject({ state: 'running', node: 'node-a' });
    expect(c.limits.memoryBytes).toBe(536870912);
    const memory = cgroupDirOf(c.pid!, 'memory');
    const file = existsSync(join(memory, 'memory.max')) ? 'memory.max' : 'memory.limit_in_bytes';
    expect(readFileSync(join(memory, file), 'utf8').trim()).toBe('536870912');
  });

  it('refuses a size or number it cannot read, and says what the API refuses, in a sentence naming the flag (exit 2)', async () => {
    for (const [flag, value] of [
      ['--memory', '512X'],
      ['--memory', '-1G'],
      ['--pids', 'many'],
      ['--cpus', '1,5'],
    ] as const) {
      const r = await sys.cli(['launch', 'refused', `${flag}=${value}`]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${flag} takes a`);
      expect(r.stderr).toContain(JSON.stringify(value));
      expect(r.stderr).not.toMatch(/expected|received/);
    }
    expect((await sys.cli(['info', 'refused'])).code).toBe(3); // NOT_FOUND: nothing was created
    // what the API refuses is said in the CLI's words too: the option and a sentence, not the body's field and zod's text
    for (const [args, said] of [
      [['--memory', '1K'], '--memory must be at least 4194304 bytes (4Mi)'],
      [['--network', 'bogus'], '--network takes one of bridge, none'],
      [['--size', '1000'], '--size must be at least 65536; --size must be a multiple of 65536'],
    ] as const) {
      const r = await sys.cli(['launch', 'refused', ...args]);
      expect([r.code, r.stderr.trim()]).toEqual([2, `error: INVALID_INPUT: ${said}`]);
    }
    const missing = await sys.cli(['launch', 'refused', '--memory', '-1G']); // parseArgs' refusal: a value that looks like an option
    expect(missing.code, missing.stderr).toBe(2);
  });

  it('list --node lists the containers of that node alone', async () => {
    const other = await sys.cli(['launch', 'elsewhere', '--node', 'node-b', '--memory', '64MiB', '--wait', '--json', '--', 'sleep', '600']);
    expect(other.code, other.stderr).toBe(0);
    expect((JSON.parse(other.stdout) as ContainerView).limits.memoryBytes).toBe(64 * 1024 * 1024);
    const names = async (args: string[]) => {
      const r = await sys.cli(['list', '--json', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as ContainerView[]).map((c) => c.name).sort();
    };
    expect(await names([])).toEqual(['elsewhere', 'sized']);
    expect(await names(['--node', 'node-a'])).toEqual(['sized']);
    expect(await names(['--node', 'node-b'])).toEqual(['elsewhere']);
    expect(await names(['--node', 'node-c'])).toEqual([]);
    const table = await sys.cli(['list', '--node', 'node-b']);
    expect(table.stdout).toMatch(/elsewhere\s+running\s+node-b/);
    expect(table.stdout).not.toContain('sized');
  });
});
