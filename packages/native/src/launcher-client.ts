import { setTimeout as sleep } from 'node:timers/promises';

import { NativeError } from './errors';
import { connectToLauncher, type LauncherSettings } from './launcher-daemon';
import type { LauncherConnectionHandle } from './loader';
import { decodeMessage, encodeMessage, type DecodedMessage } from './protocol';

/** How long a request waits for a launcher being restarted before it fails. */
const RECONNECT_WAIT_MS = 5_000;

interface PendingRequest {
  resolve: (msg: DecodedMessage) => void;
  reject: (err: Error) => void;
  context: string;
}

/** What the owner of a LauncherClient is told, and what it tells the client. */
export interface LauncherClientHandlers {
  /** An exit event: a container of the launcher exited. */
  onExit(msg: DecodedMessage): void;
  /** An interactive exec session's output or end (exec-output, exec-exit), naming it by `session`. */
  onExecEvent(msg: DecodedMessage): void;
  /** The launcher went away on its own; a new one is being started. */
  onDisconnected(err: NativeError): void;
  /** Starting a new launcher failed; it is tried again after a backoff. */
  onReconnectFailed(err: unknown): void;
  /** A new launcher answers; requests go to it from now on. */
  onReconnected(): void;
  /** The connection ended for good (close(), or the launcher exiting after shutdown()). */
  onClosed(err: NativeError): void;
  /** Whether someone waits for an event: the process is kept alive for them, as for a request. */
  isAwaitingEvents(): boolean;
}

/**
 * The connection to a state directory's launcher: matches replies to requests, routes exit
 * events, keeps Node alive only while something is outstanding, and when the launcher dies on
 * its own starts a new one with backoff (requests made meanwhile wait for it a little).
 */
export class LauncherClient {
  private nextRequest = 1;
  private readonly pending = new Map<string, PendingRequest>();
  private conn: LauncherConnectionHandle | undefined;
  private referenced = false;
  private closedWith: Error | undefined;
  private readonly closeWaiters: Array<() => void> = [];
  /** Set by close() and shutdown(): a launcher that goes away after that is not replaced. */
  private closing = false;
  /** Starting a new launcher after the last one went away on its own (crash, OOM kill, kill -9). */
  private reconnecting: Promise<void> | undefined;

  private constructor(
    private readonly stateDir: string,
    private readonly settings: LauncherSettings,
    private readonly handlers: LauncherClientHandlers,
  ) {}

  /** Connects to the state directory's launcher, starting it if none runs. */
  static async connect(stateDir: string, settings: LauncherSettings, handlers: LauncherClientHandlers): Promise<LauncherClient> {
    const client = new LauncherClient(stateDir, settings, handlers);
    client.conn = await connectToLauncher(stateDir, (msg) => client.onMessage(msg), settings);
    client.conn.unref();
    return client;
  }

  /** The error the connection was closed with, while it is closed for good. */
  get closedBy(): Error | undefined {
    return this.closedWith;
  }

  /** Sends the message build(req) makes and resolves with the launcher's reply to req. */
  request(build: (req: string) => Buffer, context: string): Promise<DecodedMessage> {
    if (!this.conn && this.reconnecting) {
      // a launcher is being started: wait for it a little rather than fail at once
      const giveUp = new AbortController();
      const timedOut = sleep(RECONNECT_WAIT_MS, undefined, { signal: giveUp.signal }).catch(() => undefined);
      return Promise.race([this.reconnecting, timedOut]).then(() => {
        giveUp.abort();
        if (!this.conn) throw new NativeError(`${context}: the launcher is restarting`, { code: 'LAUNCHER_UNAVAILABLE' });
        return this.request(build, context);
      });
    }
    if (!this.conn) {
      return Promise.reject(this.closedWith ?? new NativeError('the runtime is closed', { code: 'LAUNCHER_UNAVAILABLE' }));
    }
    const req = String(this.nextRequest++);
    const message = build(req);
    return new Promise((resolve, reject) => {
      this.pending.set(req, { resolve, reject, context });
      this.updateRef();
      try {
        this.conn?.send(message);
      } catch (err) {
        this.pending.delete(req);
        this.updateRef();
        reject(new NativeError(`${context}: cannot reach the launcher: ${(err as Error).message}`, { code: 'LAUNCHER_UNAVAILABLE' }));
      }
    });
  }

  /** Disconnects from the launcher; its containers keep running. */
  close(): void {
    this.closing = true;
    this.conn?.close();
    this.conn = undefined;
    this.failAll(new NativeError('the runtime was closed', { code: 'LAUNCHER_UNAVAILABLE' }));
  }

  /** Asks the launcher to kill its containers and exit, waits until it has, then closes. */
  async shutdown(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    await this.request(
      (req) =>
        encodeMessage([
          ['op', 'shutdown'],
          ['req', req],
        ]),
      'shutdown',
    );
    this.closing = true; // the launcher exits once its containers are gone: do not start another
    this.referenced = false;
    this.conn?.ref();
    await closed;
    this.close();
  }

  /** Keeps Node alive only while a request or an awaited event is outstanding. */
  updateRef(): void {
    const wanted = this.pending.size > 0 || this.handlers.isAwaitingEvents();
    if (wanted === this.referenced || !this.conn) return;
    this.referenced = wanted;
    if (wanted) this.conn.ref();
    else this.conn.unref();
  }

  private onMessage(buf: Buffer | null): void {
    if (buf === null) {
      this.onConnectionLost();
      return;
    }
    const msg = decodeMessage(buf);
    const type = msg.get('type');
    if (type === 'exit') {
      this.handlers.onExit(msg);
      return;
    }
    if (type === 'exec-output' || type === 'exec-exit') {
      this.handlers.onExecEvent(msg);
      return;
    }
    const req = msg.get('req') ?? '';
    const pending = this.pending.get(req);
    if (!pending) return;
    this.pending.delete(req);
    this.updateRef();
    if (type === 'error') {
      pending.reject(NativeError.fromStep(msg.get('step') ?? '?', msg.get('syscall') ?? '?', Number(msg.get('errno')), pending.context));
    } else {
      pending.resolve(msg);
    }
  }

  private onConnectionLost(): void {
    this.conn?.close();
    this.conn = undefined;
    const err = new NativeError('the launcher closed the connection', { code: 'LAUNCHER_UNAVAILABLE' });
    if (this.closing) {
      this.failAll(err);
      for (const resolve of this.closeWaiters.splice(0)) resolve();
      return;
    }
    // The launcher went away on its own. The containers run on (they are not its threads).
    // Requests in flight fail: whether it carried them out is unknown. Then start a new
    // launcher, which adopts the containers from their records, and go on waiting for their
    // exits through it.
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.handlers.onDisconnected(err);
    this.reconnect();
  }

  /** Starts (or finds) a launcher for the state directory again, retrying with backoff until close(). */
  private reconnect(): void {
    if (this.reconnecting) return;
    this.reconnecting = (async () => {
      for (let delayMs = 50; !this.closing; delayMs = Math.min(delayMs * 2, 2000)) {
        let conn: LauncherConnectionHandle;
        try {
          conn = await connectToLauncher(this.stateDir, (msg) => this.onMessage(msg), this.settings);
        } catch (err) {
          this.handlers.onReconnectFailed(err);
          // keep the process alive for callers still waiting on an event
          await sleep(delayMs, undefined, { ref: this.handlers.isAwaitingEvents() });
          continue;
        }
        if (this.closing) {
          conn.close();
          return;
        }
        this.conn = conn;
        this.referenced = false;
        conn.unref();
        this.updateRef();
        this.closedWith = undefined;
        this.handlers.onReconnected();
        return;
      }
    })().finally(() => {
      this.reconnecting = undefined;
    });
  }

  private failAll(err: NativeError): void {
    this.closedWith = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.handlers.onClosed(err);
  }
}
