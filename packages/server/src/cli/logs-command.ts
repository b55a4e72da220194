// `nagaya logs <name>`: a container's console log, read once or followed until it exits.
import type { ApiClient } from './api-client';
import { containerName } from './container-commands';
import { EXIT } from './exit-codes';
import { sinceOption, wholeNumberOption } from './options';

/** The options of the logs command, as parseArgs gives them. */
export interface LogsOptions {
  json?: boolean | undefined;
  tail?: string | undefined;
  since?: string | undefined;
  timestamps?: boolean | undefined;
  follow?: boolean | undefined;
}

/** `nagaya logs <name> [-f] [--tail LINES] [--since 10m|TIME] [--timestamps]`: the bytes as they were logged. */
export async function logsCommand(client: ApiClient, args: string[], options: LogsOptions): Promise<number> {
  const name = () => containerName('logs', args);
  const query = new URLSearchParams();
  if (options.tail) query.set('tail', String(wholeNumberOption('tail', options.tail)));
  if (options.since) query.set('since', sinceOption(options.since));
  if (options.timestamps) query.set('timestamps', '1');
  if (options.follow) {
    query.set('follow', '1');
    // ends when the container exits (the server ends the answer) or on Ctrl-C
    await client.stream(`/containers/${name()}/logs?${query}`, (chunk) => process.stdout.write(chunk));
    return EXIT.ok;
  }
  const res = await client.get<{ log: string }>(`/containers/${name()}/logs${query.size ? `?${query}` : ''}`);
  if (options.json) console.log(JSON.stringify(res));
  else process.stdout.write(res.log);
  return EXIT.ok;
}
