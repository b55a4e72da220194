import { DataSource } from 'typeorm';
import { IdAllocator1764400000000 } from './1764400000000-id-allocator';
import { Fleet1764500000000 } from './1764500000000-fleet';
import { PickSlotsWaits1764600000000 } from './1764600000000-pick-slots-waits';
import { TokenExpiry1764720000000 } from './1764720000000-token-expiry';
import { ContainerSecurity1764750000000 } from './1764750000000-container-security';
import { Projects1764800000000 } from './1764800000000-projects';
import { NodeLiveness1764900000000 } from './1764900000000-node-liveness';
import { Network1764950000000 } from './1764950000000-network';
import { ProjectNetId1765000000000 } from './1765000000000-project-net-id';
import { OciImages1765100000000 } from './1765100000000-oci-images';
import { ImagePullJobs1765200000000 } from './1765200000000-image-pull-jobs';
import { RestartPolicies1765400000000 } from './1765400000000-restart-policies';
import { Volumes1765500000000 } from './1765500000000-volumes';
import { Runs1765600000000 } from './1765600000000-runs';
import { Events1765700000000 } from './1765700000000-events';
import { RunAndProjectEvents1765800000000 } from './1765800000000-run-and-project-events';
import { RunClaimFunction1765900000000 } from './1765900000000-run-claim-function';
import { VolumeDiskQuota1766000000000 } from './1766000000000-volume-disk-quota';
import { ImageLayerBlobs1766100000000 } from './1766100000000-image-layer-blobs';
import { ImageUnpackedSizes1766200000000 } from './1766200000000-image-unpacked-sizes';

/** Every migration, oldest first. Listed explicitly so no glob or file layout decides the order. */
export const migrations = [
  IdAllocator1764400000000,
  Fleet1764500000000,
  PickSlotsWaits1764600000000,
  TokenExpiry1764720000000,
  ContainerSecurity1764750000000,
  Projects1764800000000,
  NodeLiveness1764900000000,
  Network1764950000000,
  ProjectNetId1765000000000,
  OciImages1765100000000,
  ImagePullJobs1765200000000,
  RestartPolicies1765400000000,
  Volumes1765500000000,
  Runs1765600000000,
  Events1765700000000,
  RunAndProjectEvents1765800000000,
  RunClaimFunction1765900000000,
  VolumeDiskQuota1766000000000,
  ImageLayerBlobs1766100000000,
  ImageUnpackedSizes1766200000000,
];

/** Serialises concurrent migrators (several workers starting at once) on one advisory lock. */
const MIGRATION_LOCK_KEY = 0x6e616779; // 'nagy'

/** Applies every pending migration to the database at `databaseUrl`; returns the names applied. */
export async function runMigrations(databaseUrl: string): Promise<string[]> {
  const dataSource = new DataSource({
    type: 'postgres',
    url: databaseUrl,
    migrations,
    migrationsTableName: 'nagaya_migrations',
    logging: false,
  });
  await dataSource.initialize();
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.release();
    await dataSource.destroy();
  }
}
