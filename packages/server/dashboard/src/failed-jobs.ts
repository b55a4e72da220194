import type { ContainerView, JobView } from '@nagaya/contract';

/**
 * The failed jobs that still matter, newest first, at most `max`: a failed job of a container that
 * has since succeeded is dropped, that is one whose container runs now, or of which a later job
 * completed (a failed launch fixed by a start). `recent` is GET /jobs of every state, newest first,
 * and `containers` the containers of the same scope.
 */
export function failedJobsThatMatter(recent: readonly JobView[], containers: readonly ContainerView[], max = 5): JobView[] {
  const keyOf = (project: string | null, name: string) => `${project ?? ''}/${name}`;
  const succeeded = new Set(containers.filter((c) => c.state === 'running').map((c) => keyOf(c.project, c.name)));
  const out: JobView[] = [];
  for (const job of recent) {
    if (out.length >= max) break;
    const key = job.container === null ? null : keyOf(job.project, job.container);
    // newest first: a completed job seen before a failed one came after it
    if (job.state === 'completed' && key !== null) succeeded.add(key);
    else if (job.state === 'failed' && (key === null || !succeeded.has(key))) out.push(job);
  }
  return out;
}
