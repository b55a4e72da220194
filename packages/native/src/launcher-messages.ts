import { toExitStatus, type ExitStatus } from './container-records';
import { formatIdMapLine } from './id-map';
import type { ResolvedPlan } from './plan';
import type { ExecOutputEncoding, ExecResult, LaunchedContainer } from './runtime-types';
import { encodeMessage, type DecodedMessage, type Field } from './protocol';

/** Bits of a mount_flags field (container_mounts.h). */
const MOUNT_FLAG_READ_ONLY = 1;
const MOUNT_FLAG_IDMAP = 2;

/** The launch request of a resolved plan. */
export function encodeLaunchRequest(req: string, plan: ResolvedPlan): Buffer {
  const fields: Field[] = [
    ['op', 'launch'],
    ['req', req],
    ['id', plan.id],
    ['container_dir', plan.containerDir],
    ['upper', plan.upperDir],
    ['work', plan.workDir],
    ['rootfs', plan.rootfsDir],
    ['idmap', plan.idmapped ? 1 : 0],
    ['nesting', plan.nesting ? 1 : 0],
    ['run_uid', plan.runUid],
    ['run_gid', plan.runGid],
    ['hostname', plan.hostname],
    ['cwd', plan.cwd],
    ['log', plan.logFile],
    ...plan.layers.map((l): Field => ['layer', l]),
    ...plan.argv.map((a): Field => ['argv', a]),
    ...plan.env.map((e): Field => ['env', e]),
    ...plan.execCandidates.map((e): Field => ['exe', e]),
    ...plan.uidMap.map((l): Field => ['uidmap', formatIdMapLine(l)]),
    ...plan.gidMap.map((l): Field => ['gidmap', formatIdMapLine(l)]),
    ...plan.rlimits.map((r): Field => ['rlimit', `${r.resource}:${r.value}`]),
    ...plan.mounts.flatMap((m): Field[] => [
      ['mount_source', m.source],
      ['mount_target', m.target],
      ['mount_flags', (m.readOnly ? MOUNT_FLAG_READ_ONLY : 0) | (m.idmap ? MOUNT_FLAG_IDMAP : 0)],
    ]),
  ];
  if (plan.memoryBytes > 0) fields.push(['memory', plan.memoryBytes]);
  fields.push(['pids', plan.pids]);
  if (plan.initBinary !== undefined) fields.push(['init', plan.initBinary]);
  if (plan.cpuQuotaUs > 0) fields.push(['cpu_quota', plan.cpuQuotaUs], ['cpu_period', plan.cpuPeriodUs]);
  if (plan.timeoutMs !== undefined) fields.push(['timeout_ms', plan.timeoutMs]);
  if (plan.outputLimitBytes !== undefined) fields.push(['output_limit', plan.outputLimitBytes]);
  if (plan.stdinFile !== undefined) fields.push(['stdin', plan.stdinFile]);
  const net = plan.network;
  if (net) {
    fields.push(
      ['net_ip', net.ip],
      ['net_prefix', net.prefix],
      ['net_gateway', net.gateway],
      ['net_mac', net.mac],
      ['net_mtu', net.mtu],
      ['net_bridge', net.bridge],
      ['net_host_if', net.hostIfName],
      ['net_hosts', net.hosts],
    );
    if (net.resolvConf !== undefined) fields.push(['net_resolv', net.resolvConf]);
  }
  return encodeMessage(fields);
}

/** An exec's reply: its exit, and its stdout and stderr one after the other in the payload. */
export function execResultFromMessage(reply: DecodedMessage, encoding: ExecOutputEncoding = 'utf8'): ExecResult {
  const stdoutLen = Number(reply.get('stdout_len'));
  const stderrLen = Number(reply.get('stderr_len'));
  const status = exitFromMessage(reply);
  return {
    exitCode: status.exitCode,
    signal: status.signal,
    stdout: reply.payload.toString(encoding, 0, stdoutLen),
    stderr: reply.payload.toString(encoding, stdoutLen, stdoutLen + stderrLen),
    timedOut: reply.get('timed_out') === '1',
    truncated: reply.get('truncated') === '1',
  };
}

/** The exit status an exit event or an exec reply carries. */
export function exitFromMessage(msg: DecodedMessage): ExitStatus {
  const status = toExitStatus({
    exitCode: Number(msg.get('exit_code')),
    signal: Number(msg.get('signal')),
    oomKilled: msg.get('oom') === '1',
    lost: msg.get('lost') === '1',
    timedOut: msg.get('timed_out') === '1',
  });
  const pid = Number(msg.get('pid'));
  return Number.isSafeInteger(pid) && pid > 0 ? { ...status, pid } : status;
}

/** The launcher's answer to `list`: each container it runs, by id, with its init's pid and start time. */
export function runningFromMessage(reply: DecodedMessage): LaunchedContainer[] {
  return reply.all('container').map((entry) => {
    const [pid, startTime, ...id] = entry.split(' ');
    return { id: id.join(' '), pid: Number(pid), startTime };
  });
}
