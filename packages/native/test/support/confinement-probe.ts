// The confinement probe (fixtures/confinement-probe.c): built with `gcc -static` at test time and
// put into a busybox image, so a container can report which attacks on the kernel it got through.
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';

import { buildBusyboxImage } from '@nagaya/native';

/** Where the probe sits in the image. */
export const PROBE = '/bin/confinement-probe';

/** Builds a busybox image at dir with the probe in it; returns dir. */
export function buildProbeImage(dir: string): string {
  buildBusyboxImage(dir);
  const binary = join(dir, PROBE);
  execFileSync('gcc', ['-static', '-O1', '-w', '-o', binary, join(__dirname, '../fixtures/confinement-probe.c')], { stdio: 'pipe' });
  chmodSync(binary, 0o755);
  return dir;
}

/** What the probe printed: the errno of each attempt (0 = it worked) and its status lines. */
export interface ProbeReport {
  errno: Record<string, number>;
  status: Record<string, string>;
}

export function parseProbe(output: string): ProbeReport {
  const report: ProbeReport = { errno: {}, status: {} };
  for (const line of output.split('\n')) {
    const status = /^(\w+):\s+(\S+)$/.exec(line);
    if (status) report.status[status[1]!] = status[2]!;
    const attempt = /^([a-z0-9-]+) (\d+)$/.exec(line);
    if (attempt) report.errno[attempt[1]!] = Number(attempt[2]);
  }
  return report;
}

/** The capability numbers set in a hex mask from /proc/<pid>/status. */
export function capabilityNumbers(hex: string): number[] {
  const mask = BigInt(`0x${hex}`);
  const caps: number[] = [];
  for (let cap = 0; cap < 64; cap++) if ((mask >> BigInt(cap)) & 1n) caps.push(cap);
  return caps;
}
