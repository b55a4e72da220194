import type { Operation } from './operation';
import { allocationOperations } from './routes/allocation-routes';
import { containerOperations } from './routes/container-routes';
import { fileOperations } from './routes/file-routes';
import { eventOperations } from './routes/event-routes';
import { imageOperations } from './routes/image-routes';
import { jobOperations } from './routes/job-routes';
import { networkOperations } from './routes/network-routes';
import { nodeOperations } from './routes/node-routes';
import { poolOperations } from './routes/pool-routes';
import { projectOperations } from './routes/project-routes';
import { runOperations } from './routes/run-routes';
import { statsOperations } from './routes/stats-routes';
import { systemOperations } from './routes/system-routes';
import { tokenOperations } from './routes/token-routes';
import { volumeOperations } from './routes/volume-routes';

/** Every route of /api/v1: registered from this table (register-operations.ts) and documented from it (openapi.ts). */
export const OPERATIONS: readonly Operation[] = [
  ...systemOperations(() => OPERATIONS),
  ...containerOperations,
  ...fileOperations,
  ...runOperations,
  ...statsOperations,
  ...jobOperations,
  ...eventOperations,
  ...poolOperations,
  ...allocationOperations,
  ...imageOperations,
  ...volumeOperations,
  ...nodeOperations,
  ...networkOperations,
  ...tokenOperations,
  ...projectOperations,
];
