import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

// Setup of the unit tier (vitest.config.mts): a unit test that reaches for Postgres or Redis (a
// socket), the native addon (dlopen: the launcher, namespaces, mounts) or another process fails
// with this message instead of passing on a machine where those happen to be up.

/** The message of every refused attempt. */
export const UNIT_GUARD_MESSAGE =
  'unit tests run pure logic: no sockets (Postgres, Redis, the launcher), no native addon, no child processes';

function refuse(what: string): never {
  throw new Error(`${UNIT_GUARD_MESSAGE} (tried ${what})`);
}

net.Socket.prototype.connect = function connect(): never {
  refuse('a socket connect');
};
process.dlopen = (_module: object, filename: string): never => refuse(`to load ${filename}`);
for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
  (childProcess as unknown as Record<string, unknown>)[name] = () => refuse(`child_process.${name}`);
}
// ESM imports of node:child_process see the patched functions too
syncBuiltinESMExports();
