import type { HealthView } from '@nagaya/contract';
import type { Redis } from 'ioredis';
import type { Db } from '../store/db';

async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks Postgres and Redis; the report names whichever is down. */
export async function checkHealth(db: Db, redis: Redis): Promise<HealthView> {
  const [pg, rd] = await Promise.all([
    within(2000, db.ping()).catch(() => false),
    within(2000, redis.ping())
      .then((r) => r === 'PONG')
      .catch(() => false),
  ]);
  const dependencies = { postgres: pg ? 'ok' : 'down', redis: rd ? 'ok' : 'down' } as const;
  const down = Object.entries(dependencies)
    .filter(([, s]) => s === 'down')
    .map(([n]) => n);
  if (down.length === 0) return { status: 'ok', dependencies };
  return {
    status: 'unavailable',
    dependencies,
    error: { code: 'UNAVAILABLE', message: `${down.join(' and ')} ${down.length > 1 ? 'are' : 'is'} down` },
  };
}
