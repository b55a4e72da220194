// `nagaya jobs`: the lifecycle jobs (launch, start, stop, ...) of the project's containers.
import type { ApiClient } from './api-client';
import { table, type Out } from './format';

/** `nagaya jobs [--container N]`: with --all-projects, of every project (a project column). */
export async function jobsCommand(client: ApiClient, container: string | undefined, all: boolean, out: Out): Promise<void> {
  const { jobs } = await client.get<{ jobs: Array<Record<string, unknown>> }>(
    `/jobs${container ? `?container=${encodeURIComponent(container)}` : ''}`,
  );
  out(jobs, () => table(jobs, [...(all ? ['project'] : []), 'id', 'kind', 'container', 'image', 'node', 'state', 'error']));
}
