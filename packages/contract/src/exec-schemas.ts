import { z } from 'zod';
import { argv, envSchema, noNul } from './schema-parts';

// Requests of exec: POST /containers/:name/exec and the interactive session over WebSocket.

export const execSchema = z.strictObject({
  command: argv,
  env: envSchema.optional(),
  timeoutMs: z.number().int().min(1).max(300_000).optional(),
  /** base64: stdout and stderr are the exact bytes, base64-encoded; utf8 (default): text, invalid bytes replaced. */
  encoding: z.enum(['utf8', 'base64']).optional(),
  /** Instead of the container's working directory and user (its image's, or its create's). */
  cwd: z.string().min(1).max(4096).startsWith('/').refine(noNul, 'no NUL characters').optional(),
  user: z.strictObject({ uid: z.number().int().min(0).max(65535), gid: z.number().int().min(0).max(65535) }).optional(),
});

/** An interactive exec session (GET /containers/:name/exec over WebSocket), from its query or its first message. */
export const execSessionSchema = z.strictObject({
  command: argv,
  tty: z.boolean().optional(),
  rows: z.number().int().min(1).max(65535).optional(),
  cols: z.number().int().min(1).max(65535).optional(),
  env: envSchema.optional(),
  cwd: z.string().min(1).max(4096).startsWith('/').refine(noNul, 'no NUL characters').optional(),
  user: z.strictObject({ uid: z.number().int().min(0).max(65535), gid: z.number().int().min(0).max(65535) }).optional(),
});
export type ExecSessionRequest = z.infer<typeof execSessionSchema>;

const repeated = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? undefined : [v].flat()));

/** The same in the query: command and env (K=V) repeated, tty=1, rows, cols, cwd, user=UID[:GID]; no command: it comes as the first message. */
export const execSocketQuery = z.strictObject({
  command: repeated,
  tty: z
    .enum(['1', 'true', '0', 'false'])
    .optional()
    .transform((v) => v === '1' || v === 'true'),
  rows: z.coerce.number().int().min(1).max(65535).optional(),
  cols: z.coerce.number().int().min(1).max(65535).optional(),
  env: repeated,
  cwd: z.string().optional(),
  user: z
    .string()
    .regex(/^\d{1,5}(:\d{1,5})?$/, 'user is UID or UID:GID')
    .optional(),
});
