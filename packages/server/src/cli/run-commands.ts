// `nagaya run IMAGE -- cmd` and `nagaya runs list|info|output|cancel|schedules|unschedule`.
import { readFileSync } from 'node:fs';
import type { RunOutputView, RunScheduleView, RunView } from '@nagaya/contract';
import type { ApiClient } from './api-client';
import { age, bytes, table } from './format';
import { mountsOption } from './mount-option';
import { decimalOption, sizeOption, usageError, wholeNumberOption } from './options';

/** The options of the run commands, as parseArgs gives them. */
export interface RunOptions {
  detach?: boolean;
  follow?: boolean;
  timeout?: string;
  env?: string[];
  memory?: string;
  pids?: string;
  cpus?: string;
  network?: string;
  retries?: string;
  priority?: string;
  delay?: string;
  schedule?: string;
  stdin?: boolean;
  'output-limit'?: string;
  'idempotency-key'?: string;
  /** volume:NAME:/path[:ro] or host:/dir:/path[:ro][:shift], as `launch` takes them. */
  mount?: string[];
  state?: string;
  since?: string;
  limit?: string;
}

type Out = (data: unknown, human: () => string) => void;

/** A run's timeout when --timeout says nothing. */
const DEFAULT_TIMEOUT_SECONDS = 600;
/** One long poll of `nagaya run` (it polls again until the run ends). */
const WAIT_SECONDS = 60;

/** How a run ended, in a few words. */
function endText(r: RunView): string {
  if (r.state === 'queued' || r.state === 'running') return r.state;
  if (r.state === 'timedOut') return `timed out after ${r.timeoutSeconds}s`;
  if (r.state === 'cancelled') return 'cancelled';
  if (r.exitCode !== null) return `${r.state}, exit ${r.exitCode}`;
  if (r.signal) return `${r.state}, killed by ${r.signal}`;
  return `${r.state}${r.error ? `: ${r.error.code}: ${r.error.message}` : ''}`;
}

function showRun(r: RunView): string {
  return [
    `id:       ${r.id}`,
    `project:  ${r.project}`,
    `state:    ${endText(r)}`,
    `image:    ${r.image}`,
    `command:  ${JSON.stringify(r.command)}`,
    `attempt:  ${r.attempt} of ${r.retries + 1}`,
    `priority: ${r.priority}`,
    `timeout:  ${r.timeoutSeconds}s`,
    ...(r.mounts ?? []).map((m) =>
      'volume' in m
        ? `mount:    volume ${m.volume} at ${m.path}${m.readOnly ? ' (read-only)' : ''}`
        : `mount:    host ${m.hostPath} at ${m.path}${m.readOnly ? ' (read-only)' : ''}${m.shift ? ' (shifted)' : ''}`,
    ),
    `node:     ${r.node ?? '-'}`,
    `slice:    ${r.slice ? `${r.slice.uidStart}-${r.slice.uidStart + r.slice.uidCount - 1}` : '-'}`,
    `stdout:   ${bytes(r.stdoutBytes)}${r.stdoutTruncated ? ' (truncated)' : ''}`,
    `stderr:   ${bytes(r.stderrBytes)}${r.stderrTruncated ? ' (truncated)' : ''}`,
    `error:    ${r.error ? `${r.error.code}: ${r.error.message}` : '-'}`,
    `created:  ${r.createdAt} (${age(r.createdAt)} ago)`,
    `started:  ${r.startedAt ?? '-'}`,
    `finished: ${r.finishedAt ?? '-'}`,
    ...(r.scheduleId ? [`schedule: ${r.scheduleId}`] : []),
  ].join('\n');
}

/** The exit code `nagaya run` ends with: the run's own, 124 for a timeout (as timeout(1)), 125 when it did not run to an exit. */
export function exitCodeOfRun(r: RunView): number {
  if (r.state === 'timedOut') return 124;
  if (r.exitCode !== null) return r.exitCode;
  if (r.signal) return 128 + (SIGNAL_NUMBERS[r.signal] ?? 0);
  return 125;
}
const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGTERM: 15,
};

/** `nagaya run IMAGE [options] -- command...`: submits, waits, prints the output; returns the exit code. */
export async function runCommand(
  client: ApiClient,
  image: string | undefined,
  command: string[],
  o: RunOptions,
  json: boolean,
): Promise<number> {
  if (!image || command.length === 0) throw usageError('run IMAGE [options] -- command...');
  const env = Object.fromEntries((o.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const limits = JSON.parse(
    JSON.stringify({
      memoryBytes: sizeOption('memory', o.memory),
      pids: wholeNumberOption('pids', o.pids),
      cpus: decimalOption('cpus', o.cpus),
    }),
  ) as Record<string, number>;
  const body = {
    image,
    command,
    timeoutSeconds: wholeNumberOption('timeout', o.timeout) ?? DEFAULT_TIMEOUT_SECONDS,
    ...(Object.keys(env).length ? { env } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(o.network ? { network: { mode: o.network } } : {}),
    ...mountsOption(o.mount),
    ...(o.retries ? { retries: wholeNumberOption('retries', o.retries) } : {}),
    ...(o.priority ? { priority: wholeNumberOption('priority', o.priority) } : {}),
    ...(o.delay ? { delaySeconds: wholeNumberOption('delay', o.delay) } : {}),
    ...(o.schedule ? { schedule: o.schedule } : {}),
    ...(o['output-limit'] ? { outputLimitBytes: sizeOption('output-limit', o['output-limit']) } : {}),
    ...(o['idempotency-key'] ? { idempotencyKey: o['idempotency-key'] } : {}),
    ...(o.stdin ? { stdin: readFileSync(0).toString('base64') } : {}),
  };
  // waiting, the submit itself waits for the run's end (Prefer: wait): a short run is one request
  const waitHere = !o.detach && !o.schedule ? { prefer: `wait=${WAIT_SECONDS}` } : undefined;
  const res = await client.post<{ run?: RunView; schedule?: RunScheduleView }>('/runs', body, waitHere);
  if (res.schedule) {
    const s = res.schedule;
    console.log(json ? JSON.stringify(s, null, 2) : `schedule ${s.id}: ${s.pattern}, next ${s.next ?? '-'}`);
    return 0;
  }
  let run = res.run!;
  if (o.detach) {
    console.log(json ? JSON.stringify(run, null, 2) : run.id);
    return 0;
  }
  while (run.state === 'queued' || run.state === 'running') {
    run = await client.get<RunView>(`/runs/${run.id}/wait?timeoutSeconds=${WAIT_SECONDS}`);
  }
  const output = await client.get<RunOutputView>(`/runs/${run.id}/output?encoding=base64`);
  if (json) {
    console.log(JSON.stringify({ run, output }, null, 2));
  } else {
    process.stdout.write(Buffer.from(output.stdout, 'base64'));
    process.stderr.write(Buffer.from(output.stderr, 'base64'));
    if (output.stdoutTruncated || output.stderrTruncated) console.error(`nagaya: output truncated (run ${run.id})`);
    if (run.state !== 'succeeded' && run.state !== 'failed') console.error(`nagaya: run ${run.id} ${endText(run)}`);
    else if (run.error) console.error(`nagaya: run ${run.id}: ${run.error.code}: ${run.error.message}`);
  }
  return exitCodeOfRun(run);
}

/** How often `runs output --follow` asks for more. */
const FOLLOW_EVERY_MS = 500;

/** Prints a run's output as it comes (asking its node while it runs), until it ends. */
async function followOutput(client: ApiClient, path: string): Promise<void> {
  let outAt = 0;
  let errAt = 0;
  for (;;) {
    const o = await client.get<RunOutputView>(`${path}/output?encoding=base64`);
    const stdout = Buffer.from(o.stdout, 'base64');
    const stderr = Buffer.from(o.stderr, 'base64');
    if (stdout.length > outAt) process.stdout.write(stdout.subarray(outAt));
    if (stderr.length > errAt) process.stderr.write(stderr.subarray(errAt));
    outAt = Math.max(outAt, stdout.length);
    errAt = Math.max(errAt, stderr.length);
    if (o.state !== 'queued' && o.state !== 'running') return;
    await new Promise((r) => setTimeout(r, FOLLOW_EVERY_MS));
  }
}

/** `nagaya runs [list] | info|output|cancel <id> | schedules | unschedule <id>`. */
export async function runsCommand(client: ApiClient, args: string[], o: RunOptions, all: boolean, out: Out): Promise<void> {
  const [sub = 'list', target] = args;
  const byId = () => {
    if (!target) throw usageError(`runs ${sub} needs a run id`);
    return `/runs/${encodeURIComponent(target)}`;
  };
  switch (sub) {
    case 'list': {
      const q = new URLSearchParams();
      if (o.state) q.set('state', o.state);
      if (o.since) q.set('since', o.since);
      if (o.limit) q.set('limit', o.limit);
      const { runs } = await client.get<{ runs: RunView[] }>(`/runs${q.size ? `?${q}` : ''}`);
      out(runs, () =>
        table(
          runs.map((r) => ({ ...r, ended: endText(r), age: age(r.createdAt), command: r.command.join(' ').slice(0, 40) })),
          [...(all ? ['project'] : []), 'id', 'image', 'command', 'ended', 'node', 'age'],
        ),
      );
      return;
    }
    case 'info': {
      const r = await client.get<RunView>(byId());
      out(r, () => showRun(r));
      return;
    }
    case 'output': {
      if (o.follow) {
        await followOutput(client, byId());
        return;
      }
      const output = await client.get<RunOutputView>(`${byId()}/output?encoding=base64`);
      out(output, () => {
        process.stderr.write(Buffer.from(output.stderr, 'base64'));
        return Buffer.from(output.stdout, 'base64').toString('utf8').replace(/\n$/, '');
      });
      return;
    }
    case 'cancel': {
      const r = await client.delete<RunView>(byId());
      out(r, () => `run ${r.id}: ${r.state}`);
      return;
    }
    case 'schedules': {
      const { schedules } = await client.get<{ schedules: RunScheduleView[] }>('/runs/schedules');
      out(schedules, () =>
        table(
          schedules.map((s) => ({ ...s, command: s.command.join(' ').slice(0, 40) })),
          [...(all ? ['project'] : []), 'id', 'pattern', 'image', 'command', 'next'],
        ),
      );
      return;
    }
    case 'unschedule': {
      if (!target) throw usageError('runs unschedule needs a schedule id');
      const res = await client.delete<{ removed: boolean }>(`/runs/schedules/${encodeURIComponent(target)}`);
      out(res, () => `schedule ${target} removed`);
      return;
    }
    default:
      throw usageError(`runs takes list, info, output, cancel, schedules or unschedule, not ${sub}`);
  }
}
