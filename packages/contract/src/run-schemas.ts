import { z } from 'zod';
import { DEFAULT_RUN_OUTPUT_LIMIT_BYTES, MAX_RUN_OUTPUT_LIMIT_BYTES, MAX_RUN_STDIN_BYTES, RUN_PRIORITY_MAX, RUN_STATES } from './runs';
import { mountsSchema } from './volume-schemas';
import { argv, envSchema, imageName } from './schema-parts';
import { limitsSchema } from './container-schemas';
import { networkSchema } from './network-schemas';

// Requests of /runs.

/** POST /runs: run-to-completion work, each attempt in a fresh container with a fresh slice. */
export const createRunSchema = z
  .strictObject({
    image: imageName,
    command: argv.meta({ description: "What the run executes (the image's Entrypoint is not prepended)." }),
    env: envSchema.optional().meta({ description: "Added to the image's Env." }),
    limits: limitsSchema.optional(),
    network: networkSchema.optional(),
    mounts: mountsSchema.optional(),
    timeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86400)
      .meta({ description: 'The launcher kills the run (SIGKILL) this long after it started: state timedOut.' }),
    retries: z
      .number()
      .int()
      .min(0)
      .max(10)
      .optional()
      .meta({ description: 'Attempts after a failed or timed-out one, each in a fresh container with a fresh slice. Default 0.' }),
    priority: z
      .number()
      .int()
      .min(0)
      .max(RUN_PRIORITY_MAX)
      .optional()
      .meta({ description: `0 to ${RUN_PRIORITY_MAX}, higher runs first. Default 0.` }),
    delaySeconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86400)
      .optional()
      .meta({ description: 'Queued only after this long.' }),
    schedule: z
      .string()
      .min(9)
      .max(200)
      .regex(/^[0-9A-Za-z*?,/#\- ]+$/, 'must be a cron pattern (5 fields, or 6 with seconds first)')
      .optional()
      .meta({
        description: 'A cron pattern: instead of one run, a schedule that submits this run each time (GET /runs/schedules).',
      }),
    stdin: z
      .base64()
      .max(Math.ceil(MAX_RUN_STDIN_BYTES / 3) * 4)
      .optional()
      .meta({ description: `Bytes (base64) handed to the run on its stdin, at most ${MAX_RUN_STDIN_BYTES}.` }),
    outputLimitBytes: z
      .number()
      .int()
      .min(0)
      .max(MAX_RUN_OUTPUT_LIMIT_BYTES)
      .optional()
      .meta({
        description: `Kept of each of stdout and stderr; the rest is counted and flagged truncated. Default ${DEFAULT_RUN_OUTPUT_LIMIT_BYTES}.`,
      }),
    idempotencyKey: z
      .string()
      .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters')
      .optional()
      .meta({ description: 'A second submission with the same key in the project gets the first run.' }),
  })
  .refine((r) => !r.network?.publish?.length, { message: 'a run publishes no ports', path: ['network', 'publish'] })
  .refine((r) => r.schedule === undefined || (r.delaySeconds === undefined && r.idempotencyKey === undefined), {
    message: 'a schedule takes neither delaySeconds nor idempotencyKey',
    path: ['schedule'],
  });
export type CreateRunInput = z.infer<typeof createRunSchema>;

export const runListQuery = z.strictObject({
  state: z.enum(RUN_STATES).optional(),
  since: z.iso.datetime({ offset: true }).optional().meta({ description: 'Only runs created at or after this time.' }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const runIdParams = { id: z.uuid() };
export const runScheduleParams = { id: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a schedule id') };

/** The longest a request waits for a run to end: GET /runs/{id}/wait's timeoutSeconds, POST /runs's Prefer: wait. */
export const RUN_WAIT_MAX_SECONDS = 300;

export const runWaitQuery = z.strictObject({
  timeoutSeconds: z.coerce.number().int().min(0).max(RUN_WAIT_MAX_SECONDS).optional(),
});

/**
 * POST /runs's Prefer header (RFC 7240). With `wait=N` the answer waits up to N seconds (at most
 * RUN_WAIT_MAX_SECONDS) for the run to end: 200 with the ended run, or 202 with the run as it is
 * then, and `Preference-Applied: wait=N` either way. A short run then costs its client one
 * request instead of a submit and a long poll. Other preferences, and one that does not parse,
 * are ignored, as RFC 7240 asks.
 */
export const runPreferHeader = z.string().max(1024).optional();

/** The seconds a Prefer header's `wait` preference asks for (capped), or undefined when it has none. */
export function preferredWaitSeconds(prefer: string | undefined): number | undefined {
  for (const preference of (prefer ?? '').split(',')) {
    const wait = /^\s*wait\s*=\s*"?(\d{1,9})"?\s*(;.*)?$/i.exec(preference);
    if (wait) return Math.min(Number(wait[1]), RUN_WAIT_MAX_SECONDS);
  }
  return undefined;
}

export const runOutputQuery = z.strictObject({
  encoding: z.enum(['utf8', 'base64']).optional(),
});
