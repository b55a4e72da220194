import type { PublishView } from '@nagaya/contract';

/**
 * Parses a `--publish` value as Docker writes one: `[hostIp:]hostPort:containerPort[/tcp|udp]`
 * (protocol tcp by default). Returns undefined for anything else; the API checks the ranges.
 */
export function parsePublish(spec: string): PublishView | undefined {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/.exec(spec);
  if (!m) return undefined;
  return {
    hostPort: Number(m[2]),
    containerPort: Number(m[3]),
    protocol: (m[4] ?? 'tcp') as PublishView['protocol'],
    ...(m[1] ? { hostIp: m[1] } : {}),
  };
}
