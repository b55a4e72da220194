import { z } from 'zod';
import { dnsLabel } from './schema-parts';

// Requests of /pools and /allocations.

const hostRange = z.strictObject({
  start: z.number().int().min(1).max(4294967294),
  count: z.number().int().min(1).max(4294967294),
});

export const createPoolSchema = z.strictObject({
  name: dnsLabel,
  uid: hostRange,
  gid: hostRange,
  sliceSize: z.number().int().min(65536).multipleOf(65536).optional(),
  quarantineSeconds: z
    .number()
    .int()
    .min(0)
    .max(365 * 86400)
    .optional(),
  rawAllowed: z.strictObject({ uid: z.array(hostRange).max(64).optional(), gid: z.array(hostRange).max(64).optional() }).optional(),
});

export const allocationsQuery = z.strictObject({
  pool: dnsLabel.optional(),
  history: z.enum(['true', 'false']).optional(),
});
