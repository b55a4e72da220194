import type { ContainerRuntime, ExecSession } from '@nagaya/native';
import type { Redis } from 'ioredis';
import { NagayaError } from '../errors';
import type { ExecSessionJobData } from './job-types';

/** What a node publishes on a session's `<channel>:out`, one JSON message each, in order. */
export type ExecOutMessage =
  | { type: 'output'; stream: 'stdout' | 'stderr'; data: string }
  /** Nothing new: says the node is still there (and asks Redis whether anyone still listens). */
  | { type: 'beat' }
  | { type: 'exit'; exitCode: number | null; signal: string | null; timedOut: boolean; error?: string };

/** What the API publishes on a session's `<channel>:in`: stdin bytes (base64), its end, a pty's size, or the client's leaving. */
export type ExecInMessage =
  | { type: 'input'; data: string }
  | { type: 'eof' }
  | { type: 'resize'; rows: number; cols: number }
  | { type: 'close' };

/** Sessions one node relays at once. */
export const MAX_EXEC_SESSIONS = 256;
const BEAT_MS = 2_000;

/**
 * The node's side of an interactive exec (GET /containers/:name/exec over WebSocket): starts the
 * session in the launcher and relays it over two Redis pub/sub channels of its own, because the
 * API that holds the WebSocket need not run on this node. Output goes out as it comes; when a
 * publish reaches nobody (the API unsubscribed, or died) the session is killed, as on a `close`
 * from the API: a beat every 2 s makes sure an idle session notices too, so nothing outlives
 * its client by more than a beat.
 */
export class ExecRelays {
  private subscriber: Redis | undefined;
  private readonly listeners = new Map<string, (message: ExecInMessage) => void>();

  constructor(
    private readonly runtime: ContainerRuntime,
    private readonly publisher: Redis,
  ) {}

  /** Sessions relayed now. */
  get count(): number {
    return this.listeners.size;
  }

  /** Starts a session; resolves once its command runs and its input channel is listened to. */
  async start(data: ExecSessionJobData): Promise<{ started: true }> {
    if (this.runtime.status(data.containerId).state !== 'running') throw new NagayaError('CONFLICT', 'the container is not running');
    if (this.listeners.size >= MAX_EXEC_SESSIONS) {
      throw new NagayaError('UNAVAILABLE', `this node already relays ${MAX_EXEC_SESSIONS} exec sessions; try again when one has ended`);
    }
    const inChannel = `${data.channel}:in`;
    const outChannel = `${data.channel}:out`;
    let session: ExecSession | undefined;
    let ended = false;
    let killed = false;
    // input is applied one message at a time, in order, each waiting for the launcher's ok
    let inputs: Promise<unknown> = Promise.resolve();
    const kill = () => {
      if (killed || ended) return;
      killed = true;
      session?.kill().catch(() => undefined);
    };
    const publish = (message: ExecOutMessage) =>
      this.publisher
        .publish(outChannel, JSON.stringify(message))
        .then((listeners) => {
          if (listeners === 0) kill(); // nobody listens any more: the client left
        })
        .catch(() => kill());
    const subscriber = this.connection();
    const stopListening = async () => {
      clearInterval(beat);
      if (!this.listeners.delete(inChannel)) return;
      await subscriber.unsubscribe(inChannel).catch(() => undefined);
    };
    this.listeners.set(inChannel, (message) => {
      if (message.type === 'close') return kill();
      inputs = inputs
        .then(() => {
          if (!session || ended) return;
          if (message.type === 'input') return session.write(Buffer.from(message.data, 'base64'));
          if (message.type === 'eof') return session.closeStdin();
          if (message.type === 'resize') return session.resize(message.rows, message.cols);
        })
        .catch(() => undefined);
    });
    const beat = setInterval(() => void publish({ type: 'beat' }), BEAT_MS);
    beat.unref();
    try {
      await subscriber.subscribe(inChannel);
      session = await this.runtime.startExecSession(
        data.containerId,
        data.command,
        {
          env: data.env,
          ...(data.cwd ? { cwd: data.cwd } : {}),
          ...(data.user ? { user: data.user } : {}),
          tty: data.tty,
          rows: data.rows,
          cols: data.cols,
        },
        {
          onOutput: (stream, bytes) => void publish({ type: 'output', stream, data: bytes.toString('base64') }),
          onEnd: (end) => {
            ended = true;
            void publish({
              type: 'exit',
              exitCode: end.exitCode,
              signal: end.signal,
              timedOut: end.timedOut,
              ...(end.error ? { error: end.error.message } : {}),
            });
            void stopListening();
          },
        },
      );
    } catch (err) {
      await stopListening();
      throw err;
    }
    return { started: true };
  }

  /** Kills every session (the worker is closing) and closes the subscriber connection. */
  async close(): Promise<void> {
    for (const listener of this.listeners.values()) listener({ type: 'close' });
    this.listeners.clear();
    await this.subscriber?.quit().catch(() => undefined);
    this.subscriber = undefined;
  }

  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    const subscriber = this.publisher.duplicate({ lazyConnect: false, enableOfflineQueue: true });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string, text: string) => {
      const listener = this.listeners.get(channel);
      if (!listener) return;
      try {
        listener(JSON.parse(text) as ExecInMessage);
      } catch {
        // not one of ours: ignore it
      }
    });
    this.subscriber = subscriber;
    return subscriber;
  }
}
