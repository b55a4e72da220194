// Runs a command as the unprivileged local user `nobody` (no supplementary groups, no
// capabilities), the way an auditor probes what any local account can reach on the host.
// Shared by the native, server and e2e tests that check host-side permissions.
import { spawnSync } from 'node:child_process';

export interface NobodyResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runAsNobody(command: string, args: string[], options: { input?: string; env?: Record<string, string> } = {}): NobodyResult {
  const result = spawnSync(
    'setpriv',
    // setpriv keeps root's effective capabilities (PR_SET_KEEPCAPS) until its own execve, so the
    // command's path would be looked up with CAP_DAC_OVERRIDE: a 0700 directory on it would not
    // stop it. env, exec'd first, finds and runs the command as nobody proper.
    [
      '--reuid=nobody',
      '--regid=nogroup',
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
      '/usr/bin/env',
      '--',
      command,
      ...args,
    ],
    {
      encoding: 'utf8',
      input: options.input,
      // A clean environment: nothing of root's (PGPASSWORD, REDISCLI_AUTH, HOME) leaks into the probe.
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/nonexistent', ...(options.env ?? {}) },
      cwd: '/',
      timeout: 30_000,
    },
  );
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `sh -c script` as nobody. */
export function shellAsNobody(script: string, env?: Record<string, string>): NobodyResult {
  return runAsNobody('/bin/sh', ['-c', script], { env });
}
