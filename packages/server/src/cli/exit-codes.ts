import { ERROR_CODES, ERRORS } from '@nagaya/contract';

/** Exit codes of the CLI's own making; an API error exits with its code's exitCode in the contract. */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

/** "0 ok, 1 error (INTERNAL), 2 bad usage (INVALID_INPUT|...), 3 NOT_FOUND, ...", from the contract's table. */
export function exitCodeLegend(): string {
  const ours = new Map<number, string>([
    [EXIT.ok, 'ok'],
    [EXIT.error, 'error'],
    [EXIT.usage, 'bad usage'],
  ]);
  const api = new Map<number, string[]>();
  for (const code of ERROR_CODES) api.set(ERRORS[code].exitCode, [...(api.get(ERRORS[code].exitCode) ?? []), code]);
  const exits = [...new Set([...ours.keys(), ...api.keys()])].sort((a, b) => a - b);
  return exits
    .map((exit) => {
      const codes = api.get(exit)?.join('|');
      const label = ours.get(exit);
      return `${exit} ${label && codes ? `${label} (${codes})` : (label ?? codes)}`;
    })
    .join(', ');
}
