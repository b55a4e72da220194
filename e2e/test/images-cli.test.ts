import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, type ImageView } from '@nagaya/contract';
import { buildImage, layerOf, ociLayoutTar, type FixtureImage } from '../../packages/native/test/support/oci-fixtures';
import { startLocalRegistry, type LocalRegistry } from '../../packages/server/test/support/local-registry';
import { pushFixture } from '../../packages/server/test/support/push-fixture';
import { ADMIN_TOKEN, CLI, childEnv, NagayaSystem, runCli, type CliResult } from '../support/system';

/**
 * Images through the `nagaya` CLI binary against `nagaya serve` processes: import a file (named
 * after it), list and show it, pull from a registry with htpasswd whose password comes on stdin
 * (progress on stderr), refusals with the contract's exit codes, and delete.
 */

let sys: NagayaSystem;
let registry: LocalRegistry;
let dir: string;
let image: FixtureImage;

const cli = (args: string[]) => runCli(args, { NAGAYA_URL: sys.url, NAGAYA_TOKEN: ADMIN_TOKEN });

/** The CLI with `input` on its stdin. */
function cliWithStdin(args: string[], input: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: childEnv({ NAGAYA_URL: sys.url, NAGAYA_TOKEN: ADMIN_TOKEN }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

beforeAll(async () => {
  registry = await startLocalRegistry('basic');
  sys = await NagayaSystem.start({ slices: 4, env: { NAGAYA_INSECURE_REGISTRIES: registry.host } });
  dir = mkdtempSync(join(tmpdir(), 'nagaya-images-cli-'));
  image = buildImage(
    [
      layerOf([
        { name: 'bin/', type: 'directory', mode: 0o755 },
        { name: 'bin/busybox', body: readFileSync('/bin/busybox'), mode: 0o755 },
      ]),
      layerOf(
        [
          { name: 'etc/', type: 'directory', mode: 0o755 },
          { name: 'etc/motd', body: 'cli\n' },
        ],
        'zstd',
      ),
    ],
    { Cmd: ['/bin/busybox', 'sleep', '1000'], Env: ['GREETING=hello'] },
  );
  writeFileSync(join(dir, 'web.tar'), ociLayoutTar(image));
  await pushFixture(registry, 'lib/tiny', 'v1', image);
}, 120_000);

afterAll(async () => {
  await sys?.stop();
  await registry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('images through the CLI', () => {
  it('imports a file named after it, lists it and shows all of it', async () => {
    const imported = await cli(['images', 'import', join(dir, 'web.tar')]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^image web imported into project default: oci-layout/);
    const named = await cli(['images', 'import', join(dir, 'web.tar'), '--name', 'web:v2', '--json']);
    expect(named.code, named.stderr).toBe(0);
    expect((JSON.parse(named.stdout) as ImageView).digest).toBe(image.manifestDigest);

    const list = await cli(['images']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME\s+FORMAT\s+DIGEST\s+SIZE\s+LAYERS\s+NODES$/);
    expect(list.stdout).toMatch(new RegExp(`\\nweb\\s+oci-layout\\s+${image.manifestDigest.slice(7, 19)}\\s+\\S+\\s+2\\s+\\S+\\n`));

    const info = await cli(['images', 'info', 'web']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain(`digest:     ${image.manifestDigest}`);
    expect(info.stdout).toContain('cmd:        ["/bin/busybox","sleep","1000"]');
    expect(info.stdout).toContain('  GREETING=hello');
    for (const l of image.layers) expect(info.stdout).toContain(l.diffId);
  });

  it('pulls with the password on stdin, showing its bytes on stderr', async () => {
    const { username, password } = registry.credentials!;
    const pulled = await cliWithStdin(
      ['images', 'pull', `${registry.host}/lib/tiny:v1`, '--username', username, '--password-stdin'],
      `${password}\n`,
    );
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout).toMatch(new RegExp(`^image tiny:v1 pulled into project default: ${image.manifestDigest}`));
    expect(pulled.stderr).toMatch(/pulling .*lib\/tiny:v1: \S+ of \S+ \(100%\)/);
    const view = JSON.parse((await cli(['images', 'info', 'tiny:v1', '--json'])).stdout) as ImageView;
    expect(view).toMatchObject({ format: 'registry', reference: `${registry.host}/lib/tiny:v1@${image.manifestDigest}` });

    // --quiet: nothing on stderr; --json: the image on stdout
    const quiet = await cliWithStdin(
      [
        'images',
        'pull',
        `${registry.host}/lib/tiny:v1`,
        '--name',
        'tiny:q',
        '--username',
        username,
        '--password-stdin',
        '--quiet',
        '--json',
      ],
      password,
    );
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
    expect((JSON.parse(quiet.stdout) as ImageView).name).toBe('tiny:q');
  });

  it('exits with the contract code of a refusal: a wrong password, a taken name', async () => {
    const wrong = await cliWithStdin(
      ['images', 'pull', `${registry.host}/lib/tiny:v1`, '--name', 'nope', '--username', 'fleet', '--password-stdin', '--quiet'],
      'wrong',
    );
    expect(wrong.code).toBe(ERRORS.IMAGE_UNAVAILABLE.exitCode);
    expect(wrong.stderr).toMatch(/^error: IMAGE_UNAVAILABLE: /);
    expect((await cli(['images', 'info', 'nope'])).code).toBe(ERRORS.NOT_FOUND.exitCode);

    const taken = await cli(['images', 'pull', `${registry.host}/lib/tiny:v1`]);
    expect(taken.code).toBe(ERRORS.CONFLICT.exitCode);
    const half = await cli(['images', 'pull', `${registry.host}/lib/tiny:v1`, '--username', 'fleet']);
    expect(half.code).toBe(2);
  });

  it('deletes an image', async () => {
    const deleted = await cli(['images', 'delete', 'web:v2']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toMatch(/^image web:v2 deleted/);
    expect((await cli(['images', 'info', 'web:v2'])).code).toBe(ERRORS.NOT_FOUND.exitCode);
    expect((await cli(['images', 'info', 'web'])).code).toBe(0); // its layers are web's too
  });
});
