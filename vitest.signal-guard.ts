import { readFileSync } from 'node:fs';

// Setup of the integration tier (vitest.config.mts). Tests kill launchers, workers and containers
// by pid, often a pid read from a file. A pid read as 0 (an empty file) or -1, or the negated id
// of the test runner's own process group, would signal every process of the CI run at once (it
// did: a SIGKILL to pid 0 ended a CI run with exit 137). Such a kill throws here instead, and the
// test that asked for it fails with a message that names the pid.

/** The message of every refused signal. */
export const SIGNAL_GUARD_MESSAGE = 'refused to signal a process group that holds the test runner';

function ownProcessGroup(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // fields after the command name (which may hold spaces): state, ppid, pgrp
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

const runnerGroup = ownProcessGroup();
const kill = process.kill.bind(process);
process.kill = (pid: number, signal?: string | number): true => {
  if (!Number.isSafeInteger(pid) || pid === 0 || pid === -1 || pid === -runnerGroup) {
    throw new Error(`${SIGNAL_GUARD_MESSAGE}: process.kill(${String(pid)}, ${String(signal ?? 'SIGTERM')})`);
  }
  return kill(pid, signal);
};
