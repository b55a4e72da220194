import { ApiError } from '@nagaya/contract';
import { WebSocket } from 'ws';
import type { ApiClient } from './api-client';
import { containerName } from './container-commands';
import { EXIT } from './exit-codes';
import { envOption, wholeNumberOption } from './options';

/** What `nagaya exec -i/-t` asks for. */
export interface InteractiveExecRequest {
  name: string;
  command: string[];
  env: Record<string, string>;
  /** A pty in the container: raw mode here, resize on SIGWINCH. */
  tty: boolean;
  /** Feed our stdin to the command (-i); without it the command's stdin is closed at once. */
  stdin: boolean;
}

/**
 * `nagaya exec -it NAME -- sh`: a WebSocket session (GET /containers/:name/exec). With a tty, our
 * terminal goes raw so every key (Ctrl-C too) reaches the container's pty, and a SIGWINCH sends
 * the new size. Resolves with the command's exit code (128+signal when a signal ended it).
 */
export async function interactiveExec(client: ApiClient, request: InteractiveExecRequest): Promise<number> {
  const url = client.url('GET', `/containers/${encodeURIComponent(request.name)}/exec`).replace(/^http/, 'ws');
  const ws = new WebSocket(url, { headers: client.token ? { Authorization: `Bearer ${client.token}` } : {}, perMessageDeflate: false });
  const tty = request.tty && process.stdout.isTTY === true;
  const size = () => ({ rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { error?: { code?: string; message?: string } };
          reject(new ApiError(res.statusCode ?? 0, (parsed.error?.code ?? 'INTERNAL') as never, parsed.error?.message ?? body));
        } catch {
          reject(new ApiError(res.statusCode ?? 0, 'INTERNAL', `HTTP ${res.statusCode}: ${body}`));
        }
      });
    });
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ command: request.command, tty, ...size(), ...(Object.keys(request.env).length ? { env: request.env } : {}) }));

  const stdin = process.stdin;
  const restore: Array<() => void> = [];
  if (tty && stdin.isTTY) {
    stdin.setRawMode(true);
    restore.push(() => stdin.setRawMode(false));
    const onResize = () => ws.send(JSON.stringify({ type: 'resize', ...size() }));
    process.on('SIGWINCH', onResize);
    restore.push(() => process.off('SIGWINCH', onResize));
  }
  if (request.stdin) {
    const onData = (chunk: Buffer) => ws.send(chunk);
    // our stdin's end: a pipe's EOF closes the command's; a pty's ^D is already in the bytes
    const onEnd = () => {
      if (!tty) ws.send(JSON.stringify({ type: 'eof' }));
    };
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    restore.push(() => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
    });
  } else if (!tty) {
    ws.send(JSON.stringify({ type: 'eof' }));
  }

  return await new Promise<number>((resolve, reject) => {
    let outcome: { exitCode?: number | null; signal?: string | null; type?: string; code?: string; message?: string } | undefined;
    ws.on('message', (data: Buffer, binary) => {
      if (binary) {
        (data[0] === 2 ? process.stderr : process.stdout).write(data.subarray(1));
        return;
      }
      outcome = JSON.parse(data.toString('utf8')) as typeof outcome;
    });
    ws.once('close', () => {
      for (const undo of restore.splice(0).reverse()) undo();
      if (outcome?.type === 'exit') {
        resolve(outcome.exitCode ?? 128 + signalNumber(outcome.signal));
      } else if (outcome?.type === 'error') {
        reject(new ApiError(0, (outcome.code ?? 'INTERNAL') as never, outcome.message ?? 'the session failed'));
      } else {
        reject(new ApiError(0, 'UNAVAILABLE', 'the session ended without an exit code (connection lost)'));
      }
    });
  });
}

function signalNumber(signal: string | null | undefined): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };
  return (signal && numbers[signal]) || 0;
}

/** The options of the exec command, as parseArgs gives them. */
export interface ExecOptions {
  json?: boolean | undefined;
  env?: string[] | undefined;
  timeout?: string | undefined;
  interactive?: boolean | undefined;
  tty?: boolean | undefined;
}

/**
 * `nagaya exec [-i] [-t] <name> [--timeout MS] [--env K=V]... -- command...`: one shot (the
 * output byte for byte, exiting with the command's code) or, with -i or -t, a WebSocket session.
 */
export async function execCommand(client: ApiClient, args: string[], options: ExecOptions, command: string[]): Promise<number> {
  const name = () => containerName('exec', args);
  if (command.length === 0) throw new ApiError(0, 'INVALID_INPUT', 'exec needs a command after --');
  const env = envOption(options.env);
  if (options.interactive || options.tty) {
    return await interactiveExec(client, { name: name(), command, env, tty: Boolean(options.tty), stdin: Boolean(options.interactive) });
  }
  // --json shows text; otherwise the bytes come as base64 and are written as they were
  const res = await client.post<{ exitCode: number | null; stdout: string; stderr: string }>(`/containers/${name()}/exec`, {
    command,
    ...(Object.keys(env).length ? { env } : {}),
    ...(options.timeout ? { timeoutMs: wholeNumberOption('timeout', options.timeout) } : {}),
    ...(options.json ? {} : { encoding: 'base64' }),
  });
  if (options.json) {
    console.log(JSON.stringify(res));
    return EXIT.ok;
  }
  process.stdout.write(Buffer.from(res.stdout, 'base64'));
  process.stderr.write(Buffer.from(res.stderr, 'base64'));
  return res.exitCode ?? 128;
}
