// The API's refusal of a request body, said in the CLI's words: the option a field came from and a
// sentence, not the body's field path and zod's text ("limits.memoryBytes: Too small: expected
// number to be >=4194304" reads "--memory must be at least 4194304 bytes (4Mi)").
import type { ApiError } from '@nagaya/contract';
import { bytes } from './format';

/** The option or argument each request field comes from, by its path in the body; the longest prefix wins. */
const OPTION_OF_FIELD: ReadonlyArray<readonly [string, string]> = [
  ['name', 'the name'],
  ['image', '--image'],
  ['command', 'the command after --'],
  ['env', '--env'],
  ['limits.memoryBytes', '--memory'],
  ['limits.pids', '--pids'],
  ['limits.cpus', '--cpus'],
  ['idmap.size', '--size'],
  ['idmap.key', '--key'],
  ['idmap.isolated', '--shared'],
  ['network.mode', '--network'],
  ['network.publish', '--publish'],
  ['network', '--network'],
  ['node', '--node'],
  ['restartPolicy', '--restart'],
  ['stopSignal', '--stop-signal'],
  ['stopTimeoutSeconds', '--stop-timeout'],
  ['timeoutSeconds', '--timeout'],
  ['timeoutMs', '--timeout'],
  ['quotas.containers', '--containers'],
  ['quotas.slices', '--slices'],
  ['quotas.memoryBytes', '--memory'],
  ['quotas.cpus', '--cpus'],
  ['quotas.processes', '--processes'],
  ['quotas.diskBytes', '--disk'],
  ['quotas.networkInterfaces', '--network-interfaces'],
  ['description', '--description'],
  ['role', '--role'],
  ['expiresInSeconds', '--expires'],
  ['sizeBytes', '--size'],
  ['mounts', '--mount'],
];

/** Fields whose numbers are bytes, so their bounds read better with a unit too (launch --size counts IDs). */
const BYTE_FIELDS = new Set(['limits.memoryBytes', 'quotas.memoryBytes', 'quotas.diskBytes', 'sizeBytes']);

interface Issue {
  path: string;
  message: string;
}

function issuesOf(err: ApiError): Issue[] {
  const issues = (err.details as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues)) return [];
  return issues.filter((i): i is Issue => typeof i?.path === 'string' && typeof i?.message === 'string');
}

function optionOf(path: string): string | undefined {
  let best: readonly [string, string] | undefined;
  for (const entry of OPTION_OF_FIELD)
    if ((path === entry[0] || path.startsWith(`${entry[0]}.`)) && entry[0].length > (best?.[0].length ?? -1)) best = entry;
  return best?.[1];
}

/** One issue as a sentence about its option: zod's bounds and choices in words, anything else after a colon. */
function sentence(option: string, message: string, inBytes: boolean): string {
  const quantity = (n: string) => (inBytes && /^\d+$/.test(n) ? `${n} bytes (${bytes(Number(n))})` : n);
  const small = /^Too small: expected \w+ to (?:be|have) >=?(\S+?)(?: \w+)?$/.exec(message);
  if (small) return `${option} must be at least ${quantity(small[1]!)}`;
  const big = /^Too big: expected \w+ to (?:be|have) <=?(\S+?)(?: \w+)?$/.exec(message);
  if (big) return `${option} must be at most ${quantity(big[1]!)}`;
  const choice = /^Invalid option: expected one of (.+)$/.exec(message);
  if (choice) return `${option} takes one of ${choice[1]!.replaceAll('"', '').split('|').join(', ')}`;
  if (/^Invalid input: expected int/.test(message)) return `${option} takes a whole number`;
  const rule = /^Invalid number: (.+)$/.exec(message);
  if (rule) return `${option} ${rule[1]}`;
  return `${option}: ${message}`;
}

/** The refusal in the CLI's words when every issue comes from an option it knows; undefined otherwise. */
export function validationMessage(err: ApiError): string | undefined {
  if (err.code !== 'INVALID_INPUT') return undefined;
  const issues = issuesOf(err);
  if (!issues.length) return undefined;
  const sentences: string[] = [];
  for (const issue of issues) {
    const option = optionOf(issue.path);
    if (!option) return undefined;
    sentences.push(sentence(option, issue.message, BYTE_FIELDS.has(issue.path)));
  }
  return [...new Set(sentences)].join('; ');
}
