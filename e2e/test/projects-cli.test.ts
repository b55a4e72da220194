import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEventView, ContainerView, ProjectView, TokenView } from '@nagaya/contract';
import { rawTar } from '../../packages/native/test/support/raw-tar';
import { ADMIN_TOKEN, NagayaSystem, runCli } from '../support/system';

/**
 * Projects through the `nagaya` CLI binary against `nagaya serve` processes: an admin makes a
 * project with a quota and a token of it; --project and NAGAYA_PROJECT select the project; the
 * launch past the quota exits 8 with QUOTA_EXCEEDED; show, list and audit report what happened.
 */

let sys: NagayaSystem;
let dir: string;
let operator: string;

/** The CLI with a token and, when given, NAGAYA_PROJECT in its environment. */
const cli = (args: string[], opts: { token?: string; envProject?: string } = {}) =>
  runCli(args, {
    NAGAYA_URL: sys.url,
    NAGAYA_TOKEN: opts.token ?? ADMIN_TOKEN,
    ...(opts.envProject === undefined ? {} : { NAGAYA_PROJECT: opts.envProject }),
  });

/** Runs the CLI and parses its --json output, failing with its stderr when it did not exit 0. */
async function json<T>(args: string[], opts: { token?: string; envProject?: string } = {}): Promise<T> {
  const r = await cli([...args, '--json'], opts);
  expect(r.code, `nagaya ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  sys = await NagayaSystem.start({ slices: 8 });
  dir = mkdtempSync(join(tmpdir(), 'nagaya-projects-cli-'));
  // A new project has no images of its own (busybox is the default project's): a small one to import.
  writeFileSync(
    join(dir, 'tiny.tar'),
    rawTar([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', body: readFileSync('/bin/busybox'), mode: 0o755 },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    ]),
  );
}, 120_000);
afterAll(async () => {
  await sys?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('projects through the CLI', () => {
  it('an admin creates a project with a quota and an operator token of it', async () => {
    const created = await json<ProjectView>([
      'projects',
      'create',
      'alpha',
      '--containers',
      '1',
      '--disk',
      '64Mi',
      '--description',
      'team a',
    ]);
    expect(created).toMatchObject({ name: 'alpha', description: 'team a', rawIdmapAllowed: false });
    expect(created.quotas.containers).toEqual({ limit: 1, used: 0 });
    expect(created.quotas.diskBytes.limit).toBe(64 * 1024 * 1024);
    expect(created.quotas.memoryBytes.limit).toBeNull();

    const token = await json<TokenView & { token: string }>(['tokens', 'create', 'alpha-op', '--role', 'operator', '--project', 'alpha']);
    expect([token.role, token.project]).toEqual(['operator', 'alpha']);
    operator = token.token;
    const global = await json<TokenView>(['tokens', 'create', 'root2', '--role', 'admin', '--global'], { envProject: 'alpha' });
    expect(global.project).toBeNull(); // --global wins over NAGAYA_PROJECT

    const list = await cli(['tokens', 'list']);
    expect(list.stdout.split('\n')[0]).toMatch(/\bPROJECT\b/);
    expect(list.stdout).toMatch(/alpha-op\s+operator\s+alpha\s+active/);
    expect(list.stdout).toMatch(/root2\s+admin\s+\(every\)\s+active/);
    expect((await cli(['whoami'], { token: operator })).stdout.trim()).toBe('alpha-op: operator, of project alpha');
  });

  it('NAGAYA_PROJECT and --project select the project; the launch past the quota exits 8', async () => {
    const imported = await cli(['images', 'import', join(dir, 'tiny.tar')], { token: operator });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/image tiny imported into project alpha/);

    // the admin token spans every project: NAGAYA_PROJECT puts the launch in alpha
    const launched = await json<{ container: ContainerView }>(['launch', 'a1', '--image', 'tiny'], { envProject: 'alpha' });
    expect(launched.container.project).toBe('alpha');
    // not in the default project, where the same admin token acts without a selection
    expect((await json<ContainerView[]>(['list'])).map((c) => c.name)).not.toContain('a1');
    // --project wins over NAGAYA_PROJECT
    expect((await cli(['info', 'a1', '--project', 'alpha'], { envProject: 'default' })).code).toBe(0);
    expect((await cli(['info', 'a1', '--project', 'default'], { envProject: 'alpha' })).code).toBe(3);

    const over = await cli(['launch', 'a2', '--image', 'tiny', '--project', 'alpha'], { token: operator });
    expect(over.code).toBe(8);
    expect(over.stderr).toMatch(/QUOTA_EXCEEDED/);
    expect(over.stderr).toMatch(/containers quota/);
    // a token of alpha sees no other project: the same answer as for one that does not exist
    const elsewhere = await cli(['list', '--project', 'default'], { token: operator });
    expect([elsewhere.code, elsewhere.stderr]).toEqual([3, expect.stringMatching(/NOT_FOUND: no project named default/)]);
    expect((await cli(['list', '--all-projects'], { token: operator })).code).toBe(7);
  });

  it('projects show and list report the use against the limit', async () => {
    const show = await cli(['projects', 'show', 'alpha']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^description: team a$/m);
    expect(show.stdout).toMatch(/^containers\s+--containers\s+1\s+1\s+containers, in any state$/m);
    expect(show.stdout).toMatch(/^memoryBytes\s+--memory\s+-\s+0\s/m);
    expect(show.stdout).toMatch(/^diskBytes\s+--disk\s+64Mi\s+\S+\s+bytes of the project's images and sized volumes$/m);

    const list = await cli(['projects']);
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME\s+CONTAINERS\s+SLICES\s+MEMORY/);
    expect(list.stdout).toMatch(/^alpha\s+1\/1\s/m);
    expect(list.stdout).toMatch(/^default\s+\d+\/-\s/m);

    const everything = await cli(['list', '--all-projects']);
    expect(everything.stdout.split('\n')[0]).toMatch(/^PROJECT\s+NAME/);
    expect(everything.stdout).toMatch(/^alpha\s+a1\s/m);
  });

  it('projects set changes quotas (none removes one); the next launch fits', async () => {
    expect((await cli(['projects', 'set', 'alpha', '--containers', 'many'])).code).toBe(2);
    expect((await cli(['projects', 'set', 'alpha'])).code).toBe(2);
    const changed = await json<ProjectView>(['projects', 'set', 'alpha', '--containers', 'none', '--raw-idmap', 'true']);
    expect(changed.quotas.containers).toEqual({ limit: null, used: 1 });
    expect(changed.quotas.diskBytes.limit).toBe(64 * 1024 * 1024);
    expect(changed.rawIdmapAllowed).toBe(true);
    const again = await cli(['launch', 'a2', '--image', 'tiny'], { token: operator });
    expect(again.code, again.stderr).toBe(0);
  });

  it('audit lists what was done, with its project', async () => {
    const events = await json<AuditEventView[]>(['audit']);
    expect(events).toContainEqual(expect.objectContaining({ action: 'project.create', project: 'alpha', target: 'alpha' }));
    expect(events).toContainEqual(expect.objectContaining({ action: 'project.update', project: 'alpha' }));
    expect(events).toContainEqual(expect.objectContaining({ action: 'token.create', project: 'alpha', target: 'alpha-op' }));
    // --project narrows it (NAGAYA_PROJECT alike); the operator may not read it
    const narrowed = await json<AuditEventView[]>(['audit', '--limit', '100'], { envProject: 'alpha' });
    expect(narrowed.length).toBeGreaterThan(0);
    expect(narrowed.every((e) => e.project === 'alpha')).toBe(true);
    const table = await cli(['audit', '--project', 'alpha']);
    expect(table.stdout).toMatch(/\balpha\s+project\.create\s+alpha\b/);
    expect((await cli(['audit'], { token: operator })).code).toBe(7);
  });
});
