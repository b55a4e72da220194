import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  exitedContainerRecord,
  listContainerRecords,
  readContainerRecord,
  type ContainerRecord,
  type ExitStatus,
} from './container-records';
import { commandNotRun, mountNotMade, NativeError } from './errors';
import { ExitWaiters, type ExitWaiter } from './exit-waiters';
import { idmapUnsupported, useShiftedCopy } from './idmap-fallback';
import { LauncherClient } from './launcher-client';
import { encodeLaunchRequest, exitFromMessage, runningFromMessage } from './launcher-messages';
import { resolveLaunchPlan, isValidContainerId, type LaunchPlan, type ResolvedPlan } from './plan';
import { encodeMessage, type DecodedMessage, type Field } from './protocol';
import { readRunOutput } from './run-output';
import { execCollected, ExecSessions, type ExecChannel } from './runtime-exec';
import { DEFAULT_STOP_SIGNAL, DEFAULT_STOP_TIMEOUT_MS, stopSignalNumber, type StopSignal } from './stop-signal';
import {
  DEFAULT_CONSOLE_LOG_MAX_BYTES,
  LOST_EXIT,
  type ExecOptions,
  type ExecResult,
  type ExecSession,
  type ExecSessionHandlers,
  type ExecSessionOptions,
  type LaunchedContainer,
  type LaunchOptions,
  type RunOutput,
  type RuntimeOptions,
} from './runtime-types';
import { prepareStateDir, removeContainerDirectory, removeWritableLayer, writePlanFiles } from './state-dir';

/**
 * Starts, watches, stops and execs into containers through the state directory's launcher.
 * Emits 'exit' (id, ExitStatus) for every container of the launcher that exits while connected.
 * Closing the runtime, or this process dying, leaves the containers running; a runtime opened
 * later on the same state directory adopts them. If the launcher itself dies, the runtime emits
 * 'disconnected', starts a new one (which adopts the running containers; those that ended
 * meanwhile are recorded as lost) and emits 'reconnected'; requests made meanwhile wait for it.
 */
export class ContainerRuntime extends EventEmitter {
  private client!: LauncherClient;
  private readonly exitWaiters = new ExitWaiters();
  /** What exec needs of the launcher connection (see runtime-exec.ts). */
  private readonly execChannel: ExecChannel = {
    request: (build, context) => this.client.request(build, context),
    updateRef: () => this.client.updateRef(),
  };
  /** Interactive exec sessions, until they end. */
  private readonly execSessions = new ExecSessions(this.execChannel);
  /** Containers this runtime saw launched and not yet exit: their exit event is still to come. */
  private readonly liveLaunches = new Set<string>();
  /** Launch requests in flight, and those of them whose exit event came before their reply was handled. */
  private readonly launching = new Set<string>();
  private readonly exitedWhileLaunching = new Set<string>();
  /** Stops in progress: their first signal and when their SIGKILL is due (ms since the epoch). */
  private readonly stopDeadlines = new Map<string, { deadline: number; signal: number }>();

  private constructor(
    readonly stateDir: string,
    private readonly idmappedMounts: 'auto' | 'off',
    private readonly initBinary: string | undefined,
  ) {
    super();
  }

  /** Opens the runtime of a state directory, starting its launcher if none runs. */
  static async open(options: RuntimeOptions): Promise<ContainerRuntime> {
    const { stateDir } = options;
    prepareStateDir(stateDir);
    const consoleLogMaxBytes = options.consoleLogMaxBytes ?? DEFAULT_CONSOLE_LOG_MAX_BYTES;
    if (!Number.isSafeInteger(consoleLogMaxBytes) || consoleLogMaxBytes < 4096) {
      throw new NativeError('consoleLogMaxBytes must be an integer of at least 4096', { code: 'INVALID_ARGUMENT' });
    }
    const runtime = new ContainerRuntime(stateDir, options.idmappedMounts ?? 'auto', options.initBinary);
    runtime.client = await LauncherClient.connect(
      stateDir,
      { consoleLogMaxBytes },
      {
        onExit: (msg) => runtime.onExit(msg),
        onExecEvent: (msg) => runtime.execSessions.onEvent(msg),
        onDisconnected: (err) => {
          // a launcher that went away took its sessions with it (their commands die with their helpers)
          runtime.execSessions.endAll(err);
          runtime.emit('disconnected', err);
        },
        onReconnectFailed: (err) => runtime.emit('reconnect-failed', err),
        onReconnected: () => {
          runtime.catchUpAfterReconnect();
          runtime.emit('reconnected');
        },
        onClosed: (err) => {
          runtime.execSessions.endAll(err);
          runtime.settleWaitersWithoutLauncher(err);
        },
        isAwaitingEvents: () => runtime.exitWaiters.size > 0 || runtime.execSessions.size > 0,
      },
    );
    return runtime;
  }

  /** Launches a container from a plan; resolves once its argv is executing. */
  async launch(plan: LaunchPlan, options: LaunchOptions = {}): Promise<LaunchedContainer> {
    const resolved = resolveLaunchPlan(plan, this.stateDir, { initBinary: this.initBinary });
    // mkdir returns the first directory it created: undefined means the container dir existed.
    const existed = mkdirSync(resolved.containerDir, { recursive: true, mode: 0o700 }) === undefined;
    if (existed) {
      if (readContainerRecord(this.stateDir, plan.id).state === 'running') {
        throw new NativeError(`container ${plan.id} is already running`, { code: 'EEXIST', step: 'launch' });
      }
      // A relaunch of the same id keeps its writable layer; the launcher drops the last run's
      // records (exit.json, state.json) when it takes the launch.
    }
    try {
      writePlanFiles(plan, resolved);
      if (resolved.idmapped && this.idmappedMounts === 'off') await useShiftedCopy(resolved, options);
      try {
        return await this.sendLaunch(resolved);
      } catch (err) {
        if (!idmapUnsupported(resolved, err)) throw err;
        await useShiftedCopy(resolved, options, err);
        return await this.sendLaunch(resolved);
      }
    } catch (err) {
      // Keep the directory when the launcher went away mid-launch: the launch may have happened
      // (its child is using the directory), and the next launcher finds the child through it.
      const outcomeUnknown = (err as NativeError).code === 'LAUNCHER_UNAVAILABLE';
      if (!existed && !outcomeUnknown) rmSync(resolved.containerDir, { recursive: true, force: true });
      throw err;
    }
  }

  private async sendLaunch(resolved: ResolvedPlan): Promise<LaunchedContainer> {
    // The exit event of a run that ends at once may be handled before the reply's continuation
    // runs: it is noted, so the run is not taken for one whose exit is still to come.
    this.launching.add(resolved.id);
    let reply: DecodedMessage;
    let exited = false;
    try {
      reply = await this.client.request((req) => encodeLaunchRequest(req, resolved), `launch ${resolved.id}`);
    } catch (err) {
      if (!(err instanceof NativeError)) throw err;
      if (err.step === 'exec') throw commandNotRun(err, resolved.argv[0]!, resolved.execCandidates);
      throw mountNotMade(err, resolved.mounts) ?? err;
    } finally {
      this.launching.delete(resolved.id);
      exited = this.exitedWhileLaunching.delete(resolved.id);
    }
    if (!exited) this.liveLaunches.add(resolved.id);
    const hostIf = reply.get('host_if');
    return {
      id: resolved.id,
      pid: Number(reply.get('pid')),
      startTime: String(reply.get('start_time')),
      ...(hostIf ? { hostIfName: hostIf } : {}),
    };
  }

  /** Resolves with the container's exit status once its init has exited (at once if it already has). */
  wait(id: string): Promise<ExitStatus> {
    this.checkId(id);
    return new Promise((resolve, reject) => {
      const waiter: ExitWaiter = { resolve, reject };
      this.exitWaiters.add(id, waiter);
      this.client.updateRef();
      const closedBy = this.client.closedBy;
      if (this.liveLaunches.has(id) && !closedBy) return; // the exit event will come
      // exit.json is written before the exit event is sent, so checking after registering misses nothing.
      const record = readContainerRecord(this.stateDir, id);
      const settle = (fn: () => void) => {
        this.exitWaiters.remove(id, waiter);
        this.client.updateRef();
        fn();
      };
      if (record.exit) settle(() => resolve(record.exit as ExitStatus));
      else if (record.state === 'created' && record.pid === undefined) {
        settle(() => reject(new NativeError(`no container ${id} has run in ${this.stateDir}`, { code: 'NOT_FOUND' })));
      } else if (record.state === 'gone') {
        settle(() => resolve(LOST_EXIT));
      } else if (closedBy) {
        settle(() => reject(closedBy));
      }
    });
  }

  /**
   * Stops a container: `signal` (SIGTERM by default) to its init, SIGKILL after timeoutMs (at once
   * when it is 0); resolves with its exit status.
   */
  async stop(id: string, timeoutMs = DEFAULT_STOP_TIMEOUT_MS, signal: StopSignal = DEFAULT_STOP_SIGNAL): Promise<ExitStatus> {
    this.checkId(id);
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) {
      throw new NativeError('timeoutMs must be a non-negative integer', { code: 'INVALID_ARGUMENT' });
    }
    const signalNumber = stopSignalNumber(signal);
    const exited = this.wait(id);
    exited.catch(() => undefined);
    // remembered until the exit, so a new launcher can be told again if this one dies first
    this.stopDeadlines.set(id, { deadline: Date.now() + timeoutMs, signal: signalNumber });
    void exited.finally(() => this.stopDeadlines.delete(id)).catch(() => undefined);
    try {
      await this.sendStop(id, timeoutMs, signalNumber);
    } catch (err) {
      if ((err as NativeError).code !== 'ESRCH') throw err;
    }
    return exited;
  }

  /** Asks the launcher for the stop signal now and SIGKILL after timeoutMs. */
  private sendStop(id: string, timeoutMs: number, signal: number): Promise<DecodedMessage> {
    return this.ask('stop', `stop ${id}`, [
      ['id', id],
      ['timeout_ms', timeoutMs],
      ['signal', signal],
    ]);
  }

  /** Sends a signal to a container's init. */
  async kill(id: string, signal: number = 9): Promise<void> {
    this.checkId(id);
    await this.ask('kill', `kill ${id}`, [
      ['id', id],
      ['signal', signal],
    ]);
  }

  /** Runs argv inside a running container (all its namespaces and cgroups) and collects its output. */
  async exec(id: string, argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.checkId(id);
    return execCollected(this.execChannel, id, argv, options);
  }

  /**
   * Starts argv inside a running container as an interactive session: stdin from write(), output
   * to handlers as it comes (stdout and stderr apart, or one pty), then its end. Resolves once the
   * command was started; a command that cannot run ends with `error` set.
   */
  async startExecSession(id: string, argv: string[], options: ExecSessionOptions, handlers: ExecSessionHandlers): Promise<ExecSession> {
    this.checkId(id);
    return this.execSessions.start(id, argv, options, handlers);
  }

  /** Lists the containers the launcher is running now (pid and start time of each init). */
  async running(): Promise<LaunchedContainer[]> {
    return runningFromMessage(await this.ask('list', 'list'));
  }

  /** The launcher's cgroup subtrees (one per v1 controller, one on v2): each container has its cgroup <root>/<id>. */
  async cgroupRoots(): Promise<string[]> {
    const reply = await this.ask('cgroup-roots', 'cgroup roots');
    return reply.all('cgroup_root');
  }

  /** Removes the cgroups under the launcher's subtrees that belong to no container it runs; returns them. */
  async pruneCgroups(): Promise<string[]> {
    const reply = await this.ask('prune-cgroups', 'prune cgroups');
    return reply.all('removed');
  }

  /**
   * Gives a running container that has no pids bound of its own (launched before every container
   * had one) a pids cgroup with pids.max = pids, and moves all its processes there; does nothing
   * to a container that has one.
   */
  async boundPids(id: string, pids: number): Promise<void> {
    this.checkId(id);
    if (!Number.isSafeInteger(pids) || pids < 1) throw new NativeError('pids must be a positive integer', { code: 'INVALID_ARGUMENT' });
    await this.ask('bound-pids', `bound pids of ${id}`, [
      ['id', id],
      ['pids', pids],
    ]);
  }

  /**
   * Adopts the state directory's containers after a restart: returns every recorded container
   * with its state (running ones are checked by pid and start time, exited ones carry their exit).
   */
  async adopt(): Promise<ContainerRecord[]> {
    const running = new Map((await this.running()).map((c) => [c.id, c]));
    return listContainerRecords(this.stateDir).map((record) => {
      const live = running.get(record.id);
      if (live && record.state !== 'exited' && live.startTime === record.startTime) return { ...record, state: 'running' as const };
      return record;
    });
  }

  /** Returns what the state directory says about one container. */
  status(id: string): ContainerRecord {
    this.checkId(id);
    return readContainerRecord(this.stateDir, id);
  }

  /** Tells whether the state directory has anything of this container (its directory); one stat, no reads. */
  hasRecord(id: string): boolean {
    this.checkId(id);
    return existsSync(join(this.stateDir, 'containers', id));
  }

  /**
   * Tells whether this runtime launched the container and has not yet seen it exit: its exit
   * event is still to come (a launcher restart in between is caught up from the records).
   */
  awaitsExit(id: string): boolean {
    return this.liveLaunches.has(id);
  }

  /**
   * Reads a run's captured stdout and stderr (a plan with outputLimitBytes); empty when it
   * captured nothing, NOT_FOUND when the state directory has no such container. Complete once its
   * exit is recorded (the launcher drains both before); while it runs, the files grow as the
   * launcher drains them, so following them is reading <container dir>/stdout and /stderr on.
   */
  readOutput(id: string): RunOutput {
    return readRunOutput(this.status(id), this.stateDir, id);
  }

  /** Lists what the state directory says about every container. */
  list(): ContainerRecord[] {
    return listContainerRecords(this.stateDir);
  }

  /**
   * Deletes an exited container's writable layer, where its IDs own files; its records, logs and
   * captured output stay (a run's slice is freed before its exit is forgotten); remove() takes the rest.
   */
  async removeWritableLayer(id: string): Promise<void> {
    this.checkId(id);
    await removeWritableLayer(exitedContainerRecord(this.stateDir, id).dir);
  }

  /** Deletes an exited container's directory (its writable layer, logs and records). */
  async remove(id: string): Promise<void> {
    this.checkId(id);
    await removeContainerDirectory(exitedContainerRecord(this.stateDir, id).dir);
  }

  /** Disconnects from the launcher; the containers keep running. */
  close(): void {
    this.client.close();
  }

  /** Kills every container of the launcher and stops the launcher itself (tests, uninstall). */
  async shutdown(): Promise<void> {
    await this.client.shutdown();
  }

  private checkId(id: string): void {
    if (!isValidContainerId(id)) throw new NativeError(`invalid container id ${JSON.stringify(id)}`, { code: 'INVALID_ARGUMENT' });
  }

  /** One request of the launcher's protocol: `op`, this request's id, then `fields`. */
  private ask(op: string, context: string, fields: Field[] = []): Promise<DecodedMessage> {
    return this.client.request((req) => encodeMessage([['op', op], ['req', req], ...fields]), context);
  }

  private onExit(msg: DecodedMessage): void {
    const id = msg.get('id') as string;
    const status = exitFromMessage(msg);
    this.liveLaunches.delete(id);
    if (this.launching.has(id)) this.exitedWhileLaunching.add(id);
    const waiters = this.exitWaiters.take(id);
    this.client.updateRef();
    for (const waiter of waiters) waiter.resolve(status);
    this.emit('exit', id, status);
  }

  /**
   * What happened while no launcher watched: a container that ended then has no exit event to
   * come (the new launcher only recorded it), so settle its waiters from the records; a stop
   * whose SIGKILL deadline died with the old launcher is sent again with the time it has left.
   */
  private catchUpAfterReconnect(): void {
    for (const id of new Set([...this.exitWaiters.ids(), ...this.liveLaunches])) {
      const record = readContainerRecord(this.stateDir, id);
      if (record.state === 'running') continue;
      this.liveLaunches.delete(id);
      const status = record.exit ?? LOST_EXIT;
      for (const waiter of this.exitWaiters.take(id)) waiter.resolve(status);
    }
    this.client.updateRef();
    for (const [id, { deadline, signal }] of this.stopDeadlines) {
      this.sendStop(id, Math.max(0, deadline - Date.now()), signal).catch(() => undefined);
    }
  }

  /** Without the launcher no exit event will come: settles the waiters from the records if possible. */
  private settleWaitersWithoutLauncher(err: Error): void {
    for (const [id, waiters] of this.exitWaiters.takeAll()) {
      const exit = readContainerRecord(this.stateDir, id).exit;
      for (const w of waiters) exit ? w.resolve(exit) : w.reject(err);
    }
    this.liveLaunches.clear();
  }
}
