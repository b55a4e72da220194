// `nagaya up` and `nagaya down`: the service on this machine, by the scripts `npm run up|down` run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXIT } from './exit-codes';
import { usageError } from './options';

/** The checkout this CLI was built in: dist/cli/nagaya.js sits four levels below it. */
const CHECKOUT = resolve(__dirname, '..', '..', '..', '..');

/**
 * `nagaya up` and `nagaya down`: the checkout's scripts/up.sh and scripts/down.sh, the same as
 * `npm run up` and `npm run down`, with this process's environment (NAGAYA_DATA_DIR and the rest)
 * and its terminal. The exit code is the script's.
 */
export function serviceCommand(verb: 'up' | 'down'): number {
  const script = join(CHECKOUT, 'scripts', `${verb}.sh`);
  if (!existsSync(script)) throw usageError(`nagaya ${verb} runs ${script}, which is missing: is this CLI still in its checkout?`);
  const run = spawnSync('bash', [script], { stdio: 'inherit' });
  if (run.error) throw run.error;
  return run.status ?? EXIT.error;
}
