import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { laneChunk } from './support/test-helpers';

// Test fleets draw their host IDs with laneChunk: a chunk held by any process of the machine (a
// file of this run, or of another vitest run beside it) is never drawn again until that process
// ends, so the invariants' scan of /proc finds only a fleet's own processes on its slices.
// Chunks far above the ranges the suite uses, so this file never takes one a fleet wants.
const FIRST = 250;

describe('host ID chunks of test fleets', () => {
  it('hands each chunk to one holder, taking the next free one, and refuses when none is left', async () => {
    const taken = [await laneChunk(FIRST, FIRST + 1, 2), await laneChunk(FIRST, FIRST + 1, 2)];
    expect(taken.sort()).toEqual([FIRST, FIRST + 1]);
    await expect(laneChunk(FIRST, FIRST + 1, 2)).rejects.toThrow(/held by a process/);
  });

  it('lets a chunk go when its holder dies, however it dies', async () => {
    const chunk = FIRST + 2;
    // another process holds the chunk (the same abstract socket name laneChunk binds)
    const holder = spawn(
      process.execPath,
      ['-e', `require('node:net').createServer().listen('\\0nagaya-test-host-id-chunk-${chunk}', () => console.log('held'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    await expect(laneChunk(chunk, chunk, 1)).rejects.toThrow(/held by a process/);
    const gone = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await gone;
    expect(await laneChunk(chunk, chunk, 1)).toBe(chunk);
  });
});
