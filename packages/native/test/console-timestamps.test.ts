import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CONSOLE_MAX_LINE_BYTES, type ContainerRuntime, readConsoleLog } from '@nagaya/native';

import { busyboxPlan, openTestRuntime, sleep, slice } from './helpers';

// Host ids for this file: 1_720_000_000 + n * 65536, apart from every other test file's.
const BASE = 1_720_000_000;
const CAP = 64 * 1024;
const HEADER_BYTES = 48;
const RECORD_BYTES = 16;

describe('per-line timestamps of the console log (console.log.idx)', () => {
  let runtime: ContainerRuntime;
  let stateDir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ runtime, stateDir, cleanup } = await openTestRuntime('console-stamps', { consoleLogMaxBytes: CAP }));
  });
  afterAll(async () => cleanup());

  const logOf = (id: string) => join(stateDir, 'containers', id, 'console.log');

  it('dates each line once, in order, keeping the bytes as written (NUL, 0xff, no trailing newline)', async () => {
    const script = "printf 'first\\n'; sleep 0.4; printf 'b\\000\\377c\\n'; sleep 0.4; printf 'third\\nlast, no newline'";
    await runtime.launch(busyboxPlan('stamped', ['sh', '-c', script], slice(BASE, 0)));
    const before = BigInt(Date.now()) * 1_000_000n;
    expect(await runtime.wait('stamped')).toMatchObject({ exitCode: 0 });
    const read = await readConsoleLog(logOf('stamped'));
    expect(read.lines.map((l) => l.data)).toEqual([
      Buffer.from('first\n'),
      Buffer.from([0x62, 0x00, 0xff, 0x63, 0x0a]),
      Buffer.from('third\n'),
      Buffer.from('last, no newline'),
    ]);
    // the bytes are the raw stream: console.log itself is unchanged
    expect(Buffer.concat(read.lines.map((l) => l.data))).toEqual(readFileSync(logOf('stamped')));
    // one record per line start
    expect(statSync(`${logOf('stamped')}.idx`).size).toBe(HEADER_BYTES + 4 * RECORD_BYTES);
    const times = read.lines.map((l) => l.timeNs!);
    expect(times.every((t) => t !== null && t >= before - 2_000_000_000n)).toBe(true);
    for (let i = 1; i < times.length; i++) expect(times[i]! >= times[i - 1]!).toBe(true);
    // the 400 ms sleeps show: the launcher dates a line when it is written, not later
    expect(Number(times[1]! - times[0]!) / 1e6).toBeGreaterThan(300);
    expect(Number(times[2]! - times[1]!) / 1e6).toBeGreaterThan(300);
    expect((await readConsoleLog(logOf('stamped'), { tailLines: 2 })).lines.map((l) => l.data.toString('latin1'))).toEqual([
      'third\n',
      'last, no newline',
    ]);
    expect((await readConsoleLog(logOf('stamped'), { sinceNs: times[2] })).lines).toHaveLength(2);
  });

  it('splits a line longer than the limit into dated parts', async () => {
    await runtime.launch(busyboxPlan('long-line', ['sh', '-c', 'head -c 40000 /dev/zero | tr "\\000" x; echo'], slice(BASE, 1)));
    expect(await runtime.wait('long-line')).toMatchObject({ exitCode: 0 });
    const read = await readConsoleLog(logOf('long-line'));
    expect(read.lines.map((l) => l.data.length)).toEqual([
      CONSOLE_MAX_LINE_BYTES,
      CONSOLE_MAX_LINE_BYTES,
      40001 - 2 * CONSOLE_MAX_LINE_BYTES,
    ]);
    expect(read.lines.every((l) => l.timeNs !== null)).toBe(true);
  });

  it('keeps dating lines across rotation, with whole lines in order and the index cut down to what the files keep', async () => {
    await runtime.launch(busyboxPlan('rotated', ['seq', '1', '60000'], slice(BASE, 2)));
    expect(await runtime.wait('rotated')).toMatchObject({ exitCode: 0 });
    for (let i = 0; i < 100 && statSync(logOf('rotated')).size > CAP; i++) await sleep(50);
    const read = await readConsoleLog(logOf('rotated'), { maxBytes: 4 * CAP });
    const numbers = read.lines.map((l) => Number(l.data.toString()));
    expect(numbers.at(-1)).toBe(60000);
    expect(numbers.length).toBeGreaterThan(5000);
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i)); // whole lines, none lost at the cut
    expect(read.lines.every((l) => l.timeNs !== null)).toBe(true);
    // the index holds about one record per kept line, not one per line ever written
    expect(statSync(`${logOf('rotated')}.idx`).size).toBeLessThan(HEADER_BYTES + (numbers.length + 10) * RECORD_BYTES);
    const tail = await readConsoleLog(logOf('rotated'), { tailLines: 3 });
    expect(tail.lines.map((l) => l.data.toString())).toEqual(['59998\n', '59999\n', '60000\n']);
    // positions resume: reading from a line's end gives the lines after it, no gap, no repeat
    const resumed = await readConsoleLog(logOf('rotated'), { from: tail.lines[0]!.end });
    expect(resumed.lines.map((l) => l.data.toString())).toEqual(['59999\n', '60000\n']);
  });
});
