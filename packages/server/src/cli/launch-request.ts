// The body of POST /containers that `nagaya launch` sends, from its options: sizes, numbers,
// --network/--publish, --mount and --restart read here, so a refusal names the option.
import { ApiError, RESTART_POLICIES } from '@nagaya/contract';
import { mountsOption } from './mount-option';
import { decimalOption, envOption, sizeOption, usageError, wholeNumberOption } from './options';
import { parsePublish } from './publish-spec';

/** The options of `nagaya launch`, as parseArgs gives them. */
export interface LaunchOptions {
  image?: string | undefined;
  node?: string | undefined;
  memory?: string | undefined;
  pids?: string | undefined;
  cpus?: string | undefined;
  shared?: boolean | undefined;
  size?: string | undefined;
  key?: string | undefined;
  env?: string[] | undefined;
  nesting?: boolean | undefined;
  network?: string | undefined;
  publish?: string[] | undefined;
  mount?: string[] | undefined;
  restart?: string | undefined;
  init?: boolean | undefined;
  'stop-signal'?: string | undefined;
  'stop-timeout'?: string | undefined;
}

/** The create request of `nagaya launch <name> [options] [-- command...]`. */
export function launchRequest(name: string | undefined, values: LaunchOptions, command: string[]) {
  const limits = {
    memoryBytes: sizeOption('memory', values.memory),
    pids: wholeNumberOption('pids', values.pids),
    cpus: decimalOption('cpus', values.cpus),
  };
  const env = envOption(values.env);
  return {
    name,
    image: values.image ?? 'busybox',
    ...(command.length ? { command } : {}),
    ...(Object.keys(env).length ? { env } : {}),
    ...(Object.values(limits).some((v) => v !== undefined) ? { limits: JSON.parse(JSON.stringify(limits)) } : {}),
    ...(values.shared || values.size || values.key
      ? {
          idmap: JSON.parse(
            JSON.stringify({
              isolated: values.shared ? false : undefined,
              size: wholeNumberOption('size', values.size),
              key: values.key,
            }),
          ),
        }
      : {}),
    ...(values.node ? { node: values.node } : {}),
    ...(values.nesting ? { security: { nesting: true } } : {}),
    ...networkOption(values.network, values.publish),
    ...(values.restart ? { restartPolicy: restartPolicyOption(values.restart) } : {}),
    ...(values.init ? { init: true } : {}),
    ...(values['stop-signal'] ? { stopSignal: values['stop-signal'].toUpperCase().replace(/^(?!SIG)/, 'SIG') } : {}),
    ...(values['stop-timeout'] ? { stopTimeoutSeconds: wholeNumberOption('stop-timeout', values['stop-timeout']) } : {}),
    ...mountsOption(values.mount),
  };
}

/** The create request's network from --network and --publish (a publish implies bridge). */
function networkOption(mode: string | undefined, publish: string[] | undefined): { network?: unknown } {
  if (mode === undefined && !publish?.length) return {};
  const ports = (publish ?? []).map((spec) => {
    const p = parsePublish(spec);
    if (!p)
      throw new ApiError(0, 'INVALID_INPUT', `--publish wants [hostIp:]hostPort:containerPort[/tcp|udp], not ${JSON.stringify(spec)}`);
    return p;
  });
  return { network: { mode: mode ?? 'bridge', ...(ports.length ? { publish: ports } : {}) } };
}

/** `--restart on-failure:3` as Docker writes it: the policy's name, and maxRetries after a colon. */
function restartPolicyOption(text: string): { name: string; maxRetries?: number } {
  const [name = '', retries] = text.split(':', 2);
  if (
    !(RESTART_POLICIES as readonly string[]).includes(name) ||
    (retries !== undefined && (name !== 'on-failure' || !/^\d+$/.test(retries)))
  )
    throw usageError(`--restart takes no, on-failure[:N], always or unless-stopped, not ${JSON.stringify(text)}`);
  return { name, ...(retries !== undefined ? { maxRetries: Number(retries) } : {}) };
}
