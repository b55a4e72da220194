// Where Postgres and Redis are, with their credentials: the one place the server, the scripts,
// the benches and the tests read them from. scripts/ensure-services.sh (run by `npm run up` and
// CI) makes a Postgres role and a Redis password and writes one URL per file, mode 0600, into
// <data dir>/secrets/ (0700): `database-url` and `redis-url`. DATABASE_URL / REDIS_URL in the
// environment win over the files (docker compose, a managed database).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NagayaError } from '../errors';

export const DEFAULT_DATA_DIR = '/var/lib/nagaya';

/** The data directory as every nagaya process and script resolves it. */
export function dataDirOf(env: NodeJS.ProcessEnv): string {
  return env.NAGAYA_DATA_DIR || DEFAULT_DATA_DIR;
}

/** The directory scripts/ensure-services.sh writes the service URLs into. */
export function secretsDirOf(dataDir: string): string {
  return join(dataDir, 'secrets');
}

export type Service = 'database' | 'redis' | 'registry';

/** Reads `<dataDir>/secrets/<service>-url`; a missing file is an error that says how to make it. */
export function readServiceUrlFile(dataDir: string, service: Service): string {
  const file = join(secretsDirOf(dataDir), `${service}-url`);
  let url: string;
  try {
    url = readFileSync(file, 'utf8').trim();
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`;
    throw new NagayaError(
      'INVALID_INPUT',
      `${file} ${why}: run scripts/ensure-services.sh as root (it makes the Postgres role and Redis password and writes them there), ` +
        `or set ${({ database: 'DATABASE_URL', redis: 'REDIS_URL', registry: 'NAGAYA_REGISTRY_URL' } as const)[service]}`,
    );
  }
  if (!url) throw new NagayaError('INVALID_INPUT', `${file} is empty: run scripts/ensure-services.sh again`);
  return url;
}

/** DATABASE_URL, else the URL ensure-services.sh wrote for the data directory. */
export function databaseUrlOf(env: NodeJS.ProcessEnv): string {
  return env.DATABASE_URL || readServiceUrlFile(dataDirOf(env), 'database');
}

/** REDIS_URL, else the URL ensure-services.sh wrote for the data directory. */
export function redisUrlOf(env: NodeJS.ProcessEnv): string {
  return env.REDIS_URL || readServiceUrlFile(dataDirOf(env), 'redis');
}

/**
 * The fleet's image registry (with its credentials in the URL): NAGAYA_REGISTRY_URL, else the URL
 * ensure-services.sh wrote, else none (NAGAYA_REGISTRY_URL=none, or no file: images then stay on
 * the node that imported them, and a launch elsewhere is IMAGE_UNAVAILABLE).
 */
export function registryUrlOf(env: NodeJS.ProcessEnv): string | undefined {
  const set = env.NAGAYA_REGISTRY_URL;
  if (set === 'none') return undefined;
  if (set) return set;
  const file = join(secretsDirOf(dataDirOf(env)), 'registry-url');
  return existsSync(file) ? readServiceUrlFile(dataDirOf(env), 'registry') : undefined;
}
