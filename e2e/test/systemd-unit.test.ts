import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, REPO } from '../support/system';

/**
 * nagaya.service as `npm run up` writes it where systemd is PID 1 (scripts/service-lib.sh),
 * written here into a directory of the test's own: this machine's PID 1 may not be systemd, and a
 * unit in /etc/systemd/system would be every checkout's. What systemd does with it is not run
 * here; `systemd-analyze verify` checks it as systemd reads it.
 */

let dir: string;
const TOKEN = 'ngy_unit-test-token-0123456789';
const DATABASE_URL = 'postgresql://nagaya:secret-pw@127.0.0.1:5432/nagaya';

/** Runs write_service_env and write_unit as up.sh does; exit code and output. */
function writeUnit(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const script = 'source scripts/service-lib.sh && write_service_env && write_unit "$PWD" "$LOG" "$SERVICE_ENV_FILE"';
  return new Promise((resolve) =>
    execFile(
      'bash',
      ['-euo', 'pipefail', '-c', script],
      {
        cwd: REPO,
        env: childEnv({
          NAGAYA_DATA_DIR: join(dir, 'data'),
          NAGAYA_SYSTEMD_UNIT_DIR: join(dir, 'units'),
          NAGAYA_UP_BUILD: '0',
          LOG: join(dir, 'nagaya.log'),
          ...env,
        }),
      },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nagaya-unit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('nagaya.service', () => {
  it('runs nagaya serve from the checkout, keeps the containers on a stop, and holds no secret', async () => {
    const r = await writeUnit({ NAGAYA_ADMIN_TOKEN: TOKEN, DATABASE_URL, PORT: '8123', NAGAYA_LISTEN: '0.0.0.0' });
    expect(r.code, r.out).toBe(0);
    const unit = readFileSync(join(dir, 'units', 'nagaya.service'), 'utf8');
    const node = execFileSync('bash', ['-c', 'command -v node'], { encoding: 'utf8' }).trim();
    expect(unit).toContain(`ExecStart="${node}" "${REPO}/packages/server/dist/cli/nagaya.js" serve\n`);
    expect(unit).toMatch(/^Type=simple$/m);
    expect(unit).toMatch(/^KillMode=process$/m); // a stop ends nagaya serve, not the launcher and its containers
    expect(unit).toMatch(/^Delegate=yes$/m);
    expect(unit).toContain(`StandardOutput=append:${join(dir, 'nagaya.log')}\n`);
    expect(unit).toContain(`EnvironmentFile=${join(dir, 'data', 'secrets', 'service.env')}\n`);
    expect(unit).toMatch(/^WantedBy=multi-user.target$/m);
    expect(unit).not.toContain(TOKEN);
    expect(unit).not.toContain('secret-pw');

    const envFile = join(dir, 'data', 'secrets', 'service.env');
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'data', 'secrets')).mode & 0o777).toBe(0o700);
    const lines = readFileSync(envFile, 'utf8').split('\n');
    expect(lines).toContain(`NAGAYA_ADMIN_TOKEN='${TOKEN}'`);
    expect(lines).toContain(`DATABASE_URL='${DATABASE_URL}'`);
    expect(lines).toContain(`NAGAYA_DATA_DIR='${join(dir, 'data')}'`);
    expect(lines).toContain("PORT='8123'");
    expect(lines).toContain("NAGAYA_LISTEN='0.0.0.0'");
    // up's own settings stay out
    expect(lines.filter((l) => /^NAGAYA_(UP_BUILD|SYSTEMD_UNIT_DIR)=/.test(l))).toEqual([]);

    let verify: { code: number; out: string } | undefined;
    try {
      execFileSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
      verify = await new Promise((resolve) =>
        execFile('systemd-analyze', ['verify', join(dir, 'units', 'nagaya.service')], (err, stdout, stderr) =>
          resolve({ code: err ? 1 : 0, out: stdout + stderr }),
        ),
      );
    } catch {
      // no systemd-analyze on this machine: the checks above stand alone
    }
    if (verify) expect(verify.code, verify.out).toBe(0);
  });

  it('refuses a setting a systemd environment file cannot carry, rather than mangle it', async () => {
    const r = await writeUnit({ NAGAYA_ADMIN_TOKEN: "ngy_it's" });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('NAGAYA_ADMIN_TOKEN has a quote, backslash or newline');
  });
});
