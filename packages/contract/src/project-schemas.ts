import { z } from 'zod';
import { QUOTA_MEANINGS, QUOTA_NAMES, type QuotaName } from './project-views';
import { dnsLabel, noNul } from './schema-parts';

// Requests of /projects and /audit, and the ?project= scope of every project-scoped route.

/** ?project= and ?all-projects= of every project-scoped route (read before the route's own query). */
export const projectScopeQuery = z.object({
  project: dnsLabel
    .optional()
    .meta({ description: "The project to act in; default the token's own (default for admin tokens without one)." }),
  'all-projects': z.enum(['true', 'false']).optional().meta({ description: 'Lists only: every project (admin tokens without a project).' }),
});

const quotaValue = (name: QuotaName) =>
  (name === 'cpus'
    ? z.number().min(0).max(1_000_000)
    : z
        .number()
        .int()
        .min(0)
        .max(2 ** 53 - 1)
  ).meta({
    description: `At most this many ${QUOTA_MEANINGS[name]}.`,
  });

const quotaShape = <T extends z.ZodType>(value: (name: QuotaName) => T) =>
  Object.fromEntries(QUOTA_NAMES.map((name) => [name, value(name)])) as Record<QuotaName, T>;

/** Quotas of a new project: each optional (absent: no limit). */
export const projectQuotasSchema = z.strictObject(quotaShape((name) => quotaValue(name).optional()));
/** A quota change: a number sets, null removes, absent leaves alone. */
export const projectQuotasPatchSchema = z.strictObject(quotaShape((name) => quotaValue(name).nullable().optional()));

const projectDescription = z.string().max(500).refine(noNul, 'no NUL characters');

export const createProjectSchema = z.strictObject({
  name: dnsLabel,
  description: projectDescription.optional(),
  quotas: projectQuotasSchema.optional(),
  rawIdmapAllowed: z.boolean().optional().meta({ description: 'Containers may ask for idmap.raw. Default false.' }),
});
export type CreateProjectInput = z.infer<typeof createProjectSchema>;

export const patchProjectSchema = z.strictObject({
  description: projectDescription.optional(),
  quotas: projectQuotasPatchSchema.optional().meta({ description: 'Lowering below current use is allowed: it blocks new creates only.' }),
  rawIdmapAllowed: z.boolean().optional(),
});
export type PatchProjectInput = z.infer<typeof patchProjectSchema>;

export const auditQuery = z.strictObject({
  project: dnsLabel.optional(),
  since: z.iso.datetime({ offset: true }).optional().meta({ description: 'Only events at or after this time (ISO 8601).' }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
