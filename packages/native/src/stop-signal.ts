import { constants } from 'node:os';

import { NativeError } from './errors';

/** The signals a stop may send first, by name (SIGKILL follows after the stop's timeout). */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGKILL'] as const;
export type StopSignalName = (typeof STOP_SIGNALS)[number];
/** A stop signal: one of STOP_SIGNALS, or a signal number (1..64, an image's STOPSIGNAL may be one). */
export type StopSignal = StopSignalName | number;

export const DEFAULT_STOP_SIGNAL: StopSignalName = 'SIGTERM';
/** How long a stop waits after its first signal before SIGKILL, unless the caller says. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** SIGRTMAX on Linux: the highest signal number. */
const MAX_SIGNAL = 64;

/** Returns the number of a stop signal; throws INVALID_ARGUMENT for anything else. */
export function stopSignalNumber(signal: unknown): number {
  if (typeof signal === 'number') {
    if (Number.isInteger(signal) && signal >= 1 && signal <= MAX_SIGNAL) return signal;
  } else if (typeof signal === 'string' && (STOP_SIGNALS as readonly string[]).includes(signal)) {
    return constants.signals[signal as StopSignalName];
  }
  throw new NativeError(`signal must be one of ${STOP_SIGNALS.join(', ')} or a number from 1 to ${MAX_SIGNAL}`, {
    code: 'INVALID_ARGUMENT',
    details: { signal },
  });
}
