import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateRedis } from '../../../e2e/support/private-services';
import { createTestDatabase, type TestDatabase } from '../../allocator/test/support/test-database';
import { JobQueues } from '../src/jobs/job-queues';
import { Db } from '../src/store/db';

// A BullMQ queue sets itself up once (INFO, for the server's version). When Redis went away in
// that moment, the queue kept failing every call after Redis was back, and the API answered 503
// to every create on that node for good (e2e/test/fault-dependencies hung on it under load).
// Here a private Redis refuses INFO to our user while the queue sets up, then allows it again.

let redis: PrivateRedis;
let testDb: TestDatabase;
let db: Db;
let producer: Redis;
let admin: Redis;

beforeAll(async () => {
  [redis, testDb] = await Promise.all([PrivateRedis.start(), createTestDatabase('nagaya_job_queues')]);
  db = new Db(testDb.url, 4);
  // the same settings as the API's producer connection (nagaya-server.ts)
  producer = new Redis(redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  producer.on('error', () => undefined);
  await producer.connect();
  admin = new Redis(redis.url);
}, 60_000);
afterAll(async () => {
  producer?.disconnect();
  admin?.disconnect();
  await db?.close();
  await testDb?.drop();
  await redis?.destroy();
});

describe('JobQueues', () => {
  it('gives a node a working queue again once the one whose setup failed is gone', async () => {
    const queues = new JobQueues(producer, 'nagaya-test', db);
    const job = (n: number) => ({ kind: 'stop' as const, containerId: randomUUID(), containerName: `c${n}` });
    await admin.call('ACL', 'SETUSER', 'default', '-info');
    const first = await queues.enqueue('node-x', job(1)).catch((err: Error) => err);
    expect(first).toBeInstanceOf(Error);
    expect(String(first)).toMatch(/NOPERM|info/i);

    await admin.call('ACL', 'SETUSER', 'default', '+info');
    await new Promise((r) => setTimeout(r, 50)); // the failed setup's handler runs
    const id = await queues.enqueue('node-x', job(2));
    const { rows } = await db.query<{ id: string }>('SELECT id FROM job WHERE id = $1', [id]);
    expect(rows).toHaveLength(1);
    expect(await admin.exists(`nagaya-test:node-node-x:${id}`)).toBe(1);
    await queues.close();
  });
});
