import type { Request, Response } from 'express';
import { BEARER_SUBPROTOCOL_PREFIX, EXEC_STDERR, EXEC_STDOUT, EXEC_SUBPROTOCOL } from '@nagaya/contract';
import { execSessionSchema, type ExecSessionRequest } from '@nagaya/contract/schemas';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { NagayaError } from '../../errors';
import type { ExecOutMessage } from '../../jobs/exec-relays';
import type { ExecRelayEnd } from '../../services/exec-sessions';
import type { TokenIdentity } from '../../store/token-store';
import { toApiError } from '../http-errors';
import type { RouteDeps } from '../operation';

/** A node whose session sends no beat (every 2 s) for this long is taken for gone. */
const NODE_SILENCE_MS = 10_000;
/** Output the client has not taken yet past which the session ends: the API does not buffer without bound for a slow client. */
const CLIENT_BACKLOG_LIMIT = 16 * 1024 * 1024;
/** The first message must come this soon when the query names no command. */
const FIRST_MESSAGE_MS = 10_000;

const sockets = new WebSocketServer({
  noServer: true,
  maxPayload: 1024 * 1024,
  perMessageDeflate: false,
  // Echo the exec subprotocol, never the bearer entry (ws would echo the first offered).
  handleProtocols: (offered) => (offered.has(EXEC_SUBPROTOCOL) ? EXEC_SUBPROTOCOL : false),
});

/**
 * Refuses subprotocols offered without EXEC_SUBPROTOCOL: the server would answer with none, and a
 * browser then fails the handshake after the session started.
 */
function checkSubprotocols(req: Request): void {
  const offered = (req.get('sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (offered.length && !offered.includes(EXEC_SUBPROTOCOL)) {
    throw new NagayaError(
      'INVALID_INPUT',
      `offer the subprotocol ${EXEC_SUBPROTOCOL} (beside ${BEARER_SUBPROTOCOL_PREFIX}<token> if the token travels there), or none`,
    );
  }
}

/** The query's form of a session, or undefined when it names no command (it comes as the first message). */
export function sessionFromQuery(query: {
  command?: string[] | undefined;
  tty: boolean;
  rows?: number | undefined;
  cols?: number | undefined;
  env?: string[] | undefined;
  cwd?: string | undefined;
  user?: string | undefined;
}): ExecSessionRequest | undefined {
  if (!query.command) return undefined;
  const env: Record<string, string> = {};
  for (const kv of query.env ?? []) {
    const at = kv.indexOf('=');
    if (at <= 0) throw new NagayaError('INVALID_INPUT', `env ${JSON.stringify(kv)} is not NAME=VALUE`);
    env[kv.slice(0, at)] = kv.slice(at + 1);
  }
  const [uid, gid] = (query.user ?? '').split(':');
  return execSessionSchema.parse({
    command: query.command,
    tty: query.tty,
    ...(query.rows !== undefined ? { rows: query.rows } : {}),
    ...(query.cols !== undefined ? { cols: query.cols } : {}),
    ...(query.env ? { env } : {}),
    ...(query.cwd !== undefined ? { cwd: query.cwd } : {}),
    ...(query.user !== undefined ? { user: { uid: Number(uid), gid: Number(gid ?? uid) } } : {}),
  });
}

/**
 * GET /containers/:name/exec with Upgrade: websocket. Everything that can be refused is refused
 * before the upgrade, as an HTTP error (auth, role, project, a container not running). A browser
 * sends its token as a subprotocol entry (see authenticate) beside EXEC_SUBPROTOCOL, which is echoed.
 * Then, on the socket:
 *   client → server: binary frames are stdin; text frames are JSON: {type:"resize",rows,cols},
 *   {type:"eof"} (closes stdin; on a tty send ^D instead), and, when the query named no command,
 *   first of all the session itself ({command, tty, rows, cols, env, cwd, user}).
 *   server → client: binary frames [stream id, bytes...] (1 stdout, 2 stderr; a tty's output is
 *   stdout); text frames JSON {type:"exit",exitCode,signal,timedOut} or {type:"error",code,message}
 *   last, then a close. A client that leaves kills the session (see ExecRelays).
 */
export async function serveExecSocket(
  req: Request,
  res: Response,
  deps: RouteDeps,
  actor: TokenIdentity,
  project: string,
  name: string,
  fromQuery: ExecSessionRequest | undefined,
): Promise<void> {
  if ((req.get('upgrade') ?? '').toLowerCase() !== 'websocket') {
    throw new NagayaError('INVALID_INPUT', 'this is a WebSocket endpoint: send Upgrade: websocket (or POST for a one-shot exec)');
  }
  checkSubprotocols(req);
  await deps.containerExec.checkExecTarget(project, name);
  // From here the socket is the WebSocket's: express must not answer on it.
  Object.defineProperty(res, 'headersSent', { value: true });
  const ws = await new Promise<WebSocket>((resolve) => sockets.handleUpgrade(req, req.socket, Buffer.alloc(0), resolve));
  relaySession(ws, deps, actor, project, name, fromQuery);
}

function relaySession(
  ws: WebSocket,
  deps: RouteDeps,
  actor: TokenIdentity,
  project: string,
  name: string,
  fromQuery: ExecSessionRequest | undefined,
): void {
  let relay: ExecRelayEnd | undefined;
  let finished = false;
  // what the client sends before the session runs waits here, in order
  const early: Array<{ data: RawData; binary: boolean }> = [];
  let silence: NodeJS.Timeout | undefined;
  const fail = (err: unknown) => {
    if (finished) return;
    const apiError = toApiError(err);
    ws.send(JSON.stringify({ type: 'error', code: apiError.code, message: apiError.message }));
    finish(1011);
  };
  const finish = (code: number) => {
    if (finished) return;
    finished = true;
    clearTimeout(silence);
    if (relay) {
      // the node kills the session on this, or at its next publish, which reaches nobody
      void relay.send({ type: 'close' }).catch(() => undefined);
      void relay.close();
    }
    ws.close(code);
  };
  const heard = () => {
    clearTimeout(silence);
    silence = setTimeout(() => fail(new NagayaError('UNAVAILABLE', 'the container’s node stopped answering')), NODE_SILENCE_MS);
  };
  const onNodeMessage = (message: ExecOutMessage) => {
    if (finished) return;
    heard();
    if (message.type === 'output') {
      if (ws.bufferedAmount > CLIENT_BACKLOG_LIMIT) {
        return fail(new NagayaError('UNAVAILABLE', 'the client does not read the output fast enough; the session was ended'));
      }
      const bytes = Buffer.from(message.data, 'base64');
      ws.send(Buffer.concat([Buffer.of(message.stream === 'stderr' ? EXEC_STDERR : EXEC_STDOUT), bytes]));
    } else if (message.type === 'exit') {
      ws.send(JSON.stringify(message.error ? { type: 'error', code: 'INVALID_INPUT', message: message.error } : { ...message }));
      finish(1000);
    }
  };
  const forward = (data: RawData, binary: boolean) => {
    if (!relay || finished) return;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (binary) {
      void relay.send({ type: 'input', data: bytes.toString('base64') }).catch(fail);
      return;
    }
    let control: { type?: unknown; rows?: unknown; cols?: unknown };
    try {
      control = JSON.parse(bytes.toString('utf8')) as typeof control;
    } catch {
      return fail(new NagayaError('INVALID_INPUT', 'a text frame must be JSON: {"type":"resize","rows":R,"cols":C} or {"type":"eof"}'));
    }
    if (control.type === 'eof') void relay.send({ type: 'eof' }).catch(fail);
    else if (control.type === 'resize') {
      const { rows, cols } = control;
      if (
        !Number.isInteger(rows) ||
        !Number.isInteger(cols) ||
        (rows as number) < 1 ||
        (cols as number) < 1 ||
        (rows as number) > 65535 ||
        (cols as number) > 65535
      ) {
        return fail(new NagayaError('INVALID_INPUT', 'resize needs whole rows and cols from 1 to 65535'));
      }
      void relay.send({ type: 'resize', rows: rows as number, cols: cols as number }).catch(fail);
    } else fail(new NagayaError('INVALID_INPUT', `unknown message type ${JSON.stringify(control.type)}`));
  };
  const start = (request: ExecSessionRequest) => {
    deps.containerExec
      .startExecSession(
        project,
        name,
        { ...request, tty: request.tty ?? false, rows: request.rows ?? 24, cols: request.cols ?? 80 },
        actor,
        onNodeMessage,
      )
      .then((started) => {
        relay = started;
        if (finished) {
          void started.send({ type: 'close' }).catch(() => undefined);
          void started.close();
          return;
        }
        heard();
        for (const m of early.splice(0)) forward(m.data, m.binary);
      })
      .catch(fail);
  };
  let firstMessage = fromQuery
    ? undefined
    : setTimeout(
        () => fail(new NagayaError('INVALID_INPUT', 'no session: name a command in the query or send it first')),
        FIRST_MESSAGE_MS,
      );
  ws.on('message', (data, binary) => {
    if (firstMessage) {
      clearTimeout(firstMessage);
      firstMessage = undefined;
      try {
        const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8');
        start(execSessionSchema.parse(JSON.parse(text)));
      } catch (err) {
        fail(err instanceof SyntaxError ? new NagayaError('INVALID_INPUT', 'the first message must be the session as JSON') : err);
      }
      return;
    }
    if (!relay) early.push({ data, binary });
    else forward(data, binary);
  });
  ws.on('close', () => finish(1000));
  ws.on('error', () => finish(1011));
  if (fromQuery) start(fromQuery);
}
