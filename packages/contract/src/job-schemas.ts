import { z } from 'zod';
import { JOB_STATES } from './job-views';
import { dnsLabel } from './schema-parts';

// The query of GET /jobs.

export const jobListQuery = z.strictObject({
  container: dnsLabel.optional(),
  state: z.enum(JOB_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
