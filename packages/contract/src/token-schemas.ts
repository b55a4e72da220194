import { z } from 'zod';
import { ROLES } from './token-views';
import { dnsLabel, noNul } from './schema-parts';

// Requests of /tokens.

export const createTokenSchema = z.strictObject({
  name: z.string().min(1).max(100).refine(noNul, 'no NUL characters'),
  role: z.enum(ROLES),
  project: dnsLabel
    .nullable()
    .optional()
    .meta({
      description:
        "The token's project; null: every project (admin role, created by an admin token without a project). " +
        "Default: the request's project (?project=), or none for an admin token made by a global admin.",
    }),
  expiresInSeconds: z
    .number()
    .int()
    .min(1)
    .max(10 * 365 * 86400)
    .optional()
    .meta({ description: 'The token is refused (401 TOKEN_EXPIRED) this many seconds after its creation. Default: never.' }),
});

/** A token's id in a path: bigserial digits. */
export const tokenIdParam = z
  .string()
  .regex(/^[1-9][0-9]{0,17}$/, 'must be a token id (GET /tokens)')
  .transform(Number);
