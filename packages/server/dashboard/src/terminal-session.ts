// xterm.js on an exec WebSocket. Loaded on demand (a chunk of its own): xterm.js is three times
// the rest of the dashboard, and most visits never open a terminal.
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { BEARER_SUBPROTOCOL_PREFIX, EXEC_SUBPROTOCOL } from '@nagaya/contract';

/** The container's own shell: bash where it has one, else sh. */
const SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi'];

/** What the page is told about a session. */
export interface TerminalEvents {
  /** The shell runs: keys reach it. */
  onRunning(): void;
  /** The session is over: the shell's exit, or why it failed. */
  onEnded(text: string, failed: boolean): void;
  /** The terminal's size in cells, after each fit. */
  onSize(rows: number, cols: number): void;
}

/**
 * The Sec-WebSocket-Protocol entry that carries the token (unpadded base64url): a browser cannot
 * set Authorization on a WebSocket, and a token in the URL would end up in logs.
 */
export function bearerSubprotocol(token: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(token)) binary += String.fromCharCode(byte);
  return BEARER_SUBPROTOCOL_PREFIX + btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The exit message of a session, in words. */
function exitText(message: { exitCode?: number | null; signal?: string | null }): string {
  return message.signal ? `ended by signal ${message.signal}` : `exited with code ${message.exitCode ?? '?'}`;
}

/**
 * Opens a terminal in `element` on a tty session at `url` (GET /api/v1/containers/:name/exec):
 * keys go as binary frames, the element's size (fit addon) as resize messages, output is written
 * as it comes and the exit is shown. Returns what closes it all; closing the socket kills the shell.
 */
export function openTerminal(element: HTMLElement, url: string, token: string | null, events: TerminalEvents): () => void {
  // xterm's default colours (black): the fit leaves a strip below the last row in that colour too
  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 2000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(element);
  fit.fit();
  events.onSize(term.rows, term.cols);

  const ws = new WebSocket(url, token ? [EXEC_SUBPROTOCOL, bearerSubprotocol(token)] : [EXEC_SUBPROTOCOL]);
  ws.binaryType = 'arraybuffer';
  let ended = false;
  const end = (text: string, failed: boolean) => {
    if (ended) return;
    ended = true;
    term.write(`\r\n\x1b[2m[${text}]\x1b[0m\r\n`);
    events.onEnded(text, failed);
  };
  const send = (data: string | Uint8Array) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(data);
  };
  ws.onopen = () => {
    send(JSON.stringify({ command: SHELL, tty: true, rows: term.rows, cols: term.cols, env: { TERM: 'xterm-256color' } }));
    events.onRunning();
    term.focus();
  };
  ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
    if (typeof event.data !== 'string') {
      // [stream id, bytes...]: a tty's output is all stdout
      term.write(new Uint8Array(event.data, 1));
      return;
    }
    const message = JSON.parse(event.data) as {
      type: string;
      exitCode?: number | null;
      signal?: string | null;
      message?: string;
      code?: string;
    };
    if (message.type === 'exit') end(exitText(message), false);
    else if (message.type === 'error') end(`${message.message ?? 'the session failed'} (${message.code ?? 'ERROR'})`, true);
  };
  // A browser does not say why a handshake was refused (401, 404, 409): say what can be said.
  ws.onclose = (event) =>
    end(event.code === 1006 ? 'the session could not be opened, or was cut' : 'the session closed', event.code !== 1000);

  const encoder = new TextEncoder();
  const keys = term.onData((data) => send(encoder.encode(data)));
  // mouse reports in the X10 form are bytes, not text
  const bytes = term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0))));
  const resized = term.onResize(({ rows, cols }) => {
    events.onSize(rows, cols);
    send(JSON.stringify({ type: 'resize', rows, cols }));
  });
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(element);

  return () => {
    observer.disconnect();
    keys.dispose();
    bytes.dispose();
    resized.dispose();
    ws.onclose = null;
    ws.close(1000);
    term.dispose();
  };
}
