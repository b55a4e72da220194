/** A JSON-lines logger: one object per line on stdout, with the fields of its context. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

type Level = 'info' | 'warn' | 'error';

/** Makes a logger that writes JSON lines to `write` (stdout by default); NAGAYA_LOG=silent mutes it. */
export function createLogger(
  context: Record<string, unknown> = {},
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
  const silent = process.env.NAGAYA_LOG === 'silent';
  const emit = (level: Level, message: string, fields?: Record<string, unknown>) => {
    if (silent) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg: message, ...context, ...fields };
    for (const [k, v] of Object.entries(entry))
      if (v instanceof Error) entry[k] = { message: v.message, code: (v as { code?: unknown }).code };
    write(`${JSON.stringify(entry)}\n`);
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...context, ...fields }, write),
  };
}
