import { NativeError } from './errors';
import { execResultFromMessage, exitFromMessage } from './launcher-messages';
import { resolveExec } from './process-plan';
import { encodeMessage, type DecodedMessage, type Field } from './protocol';
import type { ExecOptions, ExecResult, ExecSession, ExecSessionHandlers, ExecSessionOptions } from './runtime-types';

// Exec into a running container through the launcher: one command with its output collected, or
// an interactive session that streams.

/** What exec needs of the runtime's launcher connection. */
export interface ExecChannel {
  /** One request: `build` makes the message from the request's id. */
  request(build: (req: string) => Buffer, context: string): Promise<DecodedMessage>;
  /** Tells the connection to re-check whether events are awaited (it keeps the process alive for them). */
  updateRef(): void;
}

/** Runs argv inside a running container (all its namespaces and cgroups) and collects its output; the caller checks `id`. */
export async function execCollected(channel: ExecChannel, id: string, argv: string[], options: ExecOptions): Promise<ExecResult> {
  const { env, cwd, execCandidates } = resolveExec(argv, options.env, options.cwd);
  const timeoutMs = options.timeoutMs ?? 0;
  const outputLimit = options.outputLimit ?? 1024 * 1024;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || !Number.isSafeInteger(outputLimit) || outputLimit < 0) {
    throw new NativeError('timeoutMs and outputLimit must be non-negative integers', { code: 'INVALID_ARGUMENT' });
  }
  const reply = await channel.request(
    (req) =>
      encodeMessage([
        ['op', 'exec'],
        ['req', req],
        ['id', id],
        ['cwd', cwd],
        ['run_uid', options.user?.uid ?? 0],
        ['run_gid', options.user?.gid ?? 0],
        ['timeout_ms', timeoutMs],
        ['output_limit', outputLimit],
        ...argv.map((a): Field => ['argv', a]),
        ...env.map((e): Field => ['env', e]),
        ...execCandidates.map((e): Field => ['exe', e]),
      ]),
    `exec in ${id}`,
  );
  return execResultFromMessage(reply, options.encoding);
}

/** A runtime's interactive exec sessions: started, fed with the launcher's events, ended. */
export class ExecSessions {
  /** Interactive exec sessions by their id (the request that started them), until they end. */
  private readonly sessions = new Map<string, ExecSessionHandlers>();

  constructor(private readonly channel: ExecChannel) {}

  /** How many sessions have not ended yet. */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * Starts argv inside a running container as an interactive session: stdin from write(), output
   * to handlers as it comes (stdout and stderr apart, or one pty), then its end. Resolves once the
   * command was started; a command that cannot run ends with `error` set. The caller checks `id`.
   */
  async start(id: string, argv: string[], options: ExecSessionOptions, handlers: ExecSessionHandlers): Promise<ExecSession> {
    const { env, cwd, execCandidates } = resolveExec(argv, options.env, options.cwd);
    const timeoutMs = options.timeoutMs ?? 0;
    const rows = options.rows ?? 24;
    const cols = options.cols ?? 80;
    for (const [name, value, min, max] of [
      ['timeoutMs', timeoutMs, 0, 86_400_000],
      ['rows', rows, 1, 65535],
      ['cols', cols, 1, 65535],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new NativeError(`${name} must be an integer from ${min} to ${max}`, { code: 'INVALID_ARGUMENT' });
      }
    }
    let session = '';
    await this.channel
      .request((req) => {
        // registered before the request leaves: its first output may follow the ok at once
        session = req;
        this.sessions.set(req, handlers);
        return encodeMessage([
          ['op', 'exec'],
          ['req', req],
          ['id', id],
          ['interactive', 1],
          ['tty', options.tty ? 1 : 0],
          ['rows', rows],
          ['cols', cols],
          ['cwd', cwd],
          ['run_uid', options.user?.uid ?? 0],
          ['run_gid', options.user?.gid ?? 0],
          ['timeout_ms', timeoutMs],
          ...argv.map((a): Field => ['argv', a]),
          ...env.map((e): Field => ['env', e]),
          ...execCandidates.map((e): Field => ['exe', e]),
        ]);
      }, `exec in ${id}`)
      .catch((err: unknown) => {
        this.sessions.delete(session);
        this.channel.updateRef();
        throw err;
      });
    const context = `exec session in ${id}`;
    const ask = (op: string, fields: Field[], payload?: Buffer) =>
      this.channel
        .request((req) => {
          const header = encodeMessage([['op', op], ['req', req], ['session', session], ...fields]);
          return payload ? Buffer.concat([header, Buffer.alloc(1), payload]) : header;
        }, context)
        .then(() => undefined);
    return {
      write: (data) => ask('exec-input', [], data),
      closeStdin: () => ask('exec-input', [['eof', 1]]),
      resize: (r, c) =>
        ask('exec-resize', [
          ['rows', r],
          ['cols', c],
        ]),
      kill: () => ask('exec-kill', []),
    };
  }

  /** Hands a launcher event of a session (its output, or its end) to the session's handlers. */
  onEvent(msg: DecodedMessage): void {
    const session = msg.get('session') ?? '';
    const handlers = this.sessions.get(session);
    if (!handlers) return;
    if (msg.get('type') === 'exec-output') {
      handlers.onOutput(msg.get('stream') === 'stderr' ? 'stderr' : 'stdout', msg.payload);
      return;
    }
    this.sessions.delete(session);
    this.channel.updateRef();
    const step = msg.get('step');
    if (step !== undefined) {
      const error = NativeError.fromStep(step, msg.get('syscall') ?? '?', Number(msg.get('errno')), 'exec session');
      handlers.onEnd({ exitCode: null, signal: null, timedOut: false, error });
      return;
    }
    const status = exitFromMessage(msg);
    handlers.onEnd({ exitCode: status.exitCode, signal: status.signal, timedOut: msg.get('timed_out') === '1' });
  }

  /** The launcher is gone: each session's command died with its helper; their owners are told. */
  endAll(error: NativeError): void {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const handlers of sessions) handlers.onEnd({ exitCode: null, signal: null, timedOut: false, error });
  }
}
