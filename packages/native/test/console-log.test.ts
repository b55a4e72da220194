import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ContainerRuntime } from '@nagaya/native';

import { busyboxPlan, launcherPidOf, openTestRuntime, sleep, slice } from './helpers';

// Host ids for this file: 1_710_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_710_000_000;
const CAP = 64 * 1024;
// `seq 1 60000` writes 348,894 bytes: more than 5 times the cap
const LAST = 60000;

/** The numbers in the rotated log and the live one, in order (the first, cut mid-line, dropped). */
function numbersKept(dir: string): number[] {
  const text = readFileSync(join(dir, 'console.log.1'), 'utf8') + readFileSync(join(dir, 'console.log'), 'utf8');
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l !== '')
    .map(Number);
}

/** Waits until the launcher is done rotating: console.log within the cap. */
async function settled(dir: string): Promise<void> {
  for (let i = 0; i < 100 && statSync(join(dir, 'console.log')).size > CAP; i++) await sleep(50);
}

describe('the console log, capped and rotated', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('console-log', { consoleLogMaxBytes: CAP }));
  });
  afterAll(async () => cleanup());

  it('keeps console.log and console.log.1 within the cap when a container writes 5 times as much, losing no line between them', async () => {
    await runtime.launch(busyboxPlan('chatty', ['seq', '1', String(LAST)], slice(BASE, 0)));
    expect(await runtime.wait('chatty')).toMatchObject({ exitCode: 0 });
    const dir = join(stateDir, 'containers', 'chatty');
    await settled(dir);
    expect(statSync(join(dir, 'console.log')).size).toBeLessThanOrEqual(CAP);
    expect(statSync(join(dir, 'console.log.1')).size).toBeLessThanOrEqual(CAP);
    expect((statSync(join(dir, 'console.log.1')).mode & 0o777).toString(8)).toBe('640');
    const kept = numbersKept(dir);
    expect(kept.at(-1)).toBe(LAST); // the newest line is there...
    expect(kept.length).toBeGreaterThan(5000); // ...with the cap's worth before it...
    expect(kept).toEqual(kept.map((_, i) => kept[0]! + i)); // ...and no line lost at the cut
  });

  it('rotates at once the log of a container that a new launcher adopts, grown past the cap while none ran', async () => {
    await runtime.launch(busyboxPlan('adopted', ['sh', '-c', `sleep 1; seq 1 ${LAST}; exec sleep 600`], slice(BASE, 1)));
    runtime.close(); // no runtime left to start another launcher...
    process.kill(launcherPidOf(stateDir), 'SIGKILL'); // ...when this one dies
    const dir = join(stateDir, 'containers', 'adopted');
    for (let i = 0; i < 200 && !readFileSync(join(dir, 'console.log'), 'utf8').endsWith(`\n${LAST}\n`); i++) await sleep(50);
    expect(statSync(join(dir, 'console.log')).size).toBeGreaterThan(5 * CAP); // nobody capped it meanwhile
    const reopened = await ContainerRuntime.open({ stateDir, consoleLogMaxBytes: CAP });
    try {
      await settled(dir);
      expect(statSync(join(dir, 'console.log')).size).toBeLessThanOrEqual(CAP);
      expect(numbersKept(dir).at(-1)).toBe(LAST);
      await reopened.stop('adopted', 0);
    } finally {
      await reopened.shutdown();
    }
  });
});
