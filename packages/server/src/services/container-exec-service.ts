import type { ExecResult } from '@nagaya/native';
import { NagayaError } from '../errors';
import type { ExecOutMessage } from '../jobs/exec-relays';
import type { JobQueues } from '../jobs/job-queues';
import type { ExecSessionStart } from '../jobs/job-types';
import type { AuditStore } from '../store/audit-store';
import { processOptionsOf } from '../store/container-run';
import type { TokenIdentity } from '../store/token-store';
import type { ContainerTargets } from './container-targets';
import type { ExecRelayEnd, ExecSessionHub } from './exec-sessions';

export interface ContainerExecServiceDeps {
  targets: ContainerTargets;
  queues: JobQueues;
  audit: AuditStore;
  /** Interactive exec sessions' relays (API processes only); without it, a session is UNAVAILABLE. */
  execSessions?: ExecSessionHub;
}

export type { ExecSessionStart };

/** Commands run in running containers, on their nodes: one-shot (POST /containers/:name/exec) or interactive sessions. */
export class ContainerExecService {
  constructor(private readonly deps: ContainerExecServiceDeps) {}

  /** Runs a command in a running container, on its node. */
  async exec(
    project: string,
    name: string,
    command: string[],
    env: Record<string, string> | undefined,
    timeoutMs: number | undefined,
    actor: TokenIdentity,
    encoding: 'utf8' | 'base64' = 'utf8',
    overrides: { cwd?: string | undefined; user?: { uid: number; gid: number } | undefined } = {},
  ): Promise<ExecResult & { encoding: 'utf8' | 'base64' }> {
    const row = await this.deps.targets.requireRunningOnline(project, name);
    await this.deps.audit.record(actor, project, 'container.exec', name, { command });
    const timeout = timeoutMs ?? 30_000;
    return this.deps.queues.call<ExecResult & { encoding: 'utf8' | 'base64' }>(
      row.node,
      {
        kind: 'exec',
        containerId: row.id,
        command,
        // as Docker's exec: the container's environment, directory and user, the request's env on top
        env: { ...row.env, ...(env ?? {}) },
        ...processOptionsOf(row.run),
        ...(overrides.cwd ? { cwd: overrides.cwd } : {}),
        ...(overrides.user ? { user: overrides.user } : {}),
        timeoutMs: timeout,
        encoding,
      },
      timeout + 10_000,
    );
  }

  /** Checks that an interactive exec may start in this container (running, on an online node): before a WebSocket is accepted. */
  async checkExecTarget(project: string, name: string): Promise<void> {
    await this.deps.targets.requireRunningOnline(project, name);
  }

  /**
   * Starts an interactive exec session on the container's node, relayed over Redis pub/sub: in
   * the container's env (the request's on top), directory and user unless the request names
   * its own. Resolves once the command runs; onMessage gets its output, beats and exit.
   */
  async startExecSession(
    project: string,
    name: string,
    request: ExecSessionStart,
    actor: TokenIdentity,
    onMessage: (message: ExecOutMessage) => void,
  ): Promise<ExecRelayEnd> {
    const hub = this.deps.execSessions;
    if (!hub) throw new NagayaError('UNAVAILABLE', 'this process serves no exec sessions');
    const row = await this.deps.targets.requireRunningOnline(project, name);
    await this.deps.audit.record(actor, project, 'container.exec', name, { command: request.command, tty: request.tty });
    const relay = await hub.open(onMessage);
    try {
      const inherited = processOptionsOf(row.run);
      await this.deps.queues.call(
        row.node,
        {
          kind: 'exec-session',
          containerId: row.id,
          command: request.command,
          env: { ...row.env, ...(request.env ?? {}) },
          ...inherited,
          ...(request.cwd ? { cwd: request.cwd } : {}),
          ...(request.user ? { user: request.user } : {}),
          tty: request.tty,
          rows: request.rows,
          cols: request.cols,
          channel: relay.channel,
        },
        15_000,
      );
    } catch (err) {
      await relay.close();
      throw err;
    }
    return relay;
  }
}
