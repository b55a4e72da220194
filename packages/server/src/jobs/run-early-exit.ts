import type { ContainerRuntime, ExitStatus } from '@nagaya/native';

/**
 * How long a launched attempt's exit is waited for before its start is recorded. A short run (a
 * check, a test, `true`) has often exited by then: its start and its result then go into its run
 * in one statement (RunStore.finishReleasing with its slice) instead of one each. A longer run has
 * its start (its slice on the run, its container running with its pid) recorded this much later.
 */
export const EARLY_EXIT_MS = 20;

/** The container's exit if it comes within `ms`, else undefined (a wait for it goes on elsewhere). */
export function exitWithin(runtime: ContainerRuntime, id: string, ms: number): Promise<ExitStatus | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    runtime.wait(id).then(
      (exit) => {
        clearTimeout(timer);
        resolve(exit);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}
