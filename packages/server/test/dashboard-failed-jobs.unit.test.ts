import type { ContainerView, JobState, JobView } from '@nagaya/contract';
import { describe, expect, it } from 'vitest';
import { failedJobsThatMatter } from '../dashboard/src/failed-jobs';

let next = 0;
/** A job of container `name` in project p (null: an image pull); listed newest first, as GET /jobs lists them. */
const job = (name: string | null, state: JobState, kind: JobView['kind'] = 'launch', project = 'p'): JobView => ({
  id: `j${++next}`,
  project,
  kind,
  container: name,
  image: name === null ? 'busybox' : null,
  node: 'n',
  state,
  progress: 0,
  bytesDone: null,
  bytesTotal: null,
  error: state === 'failed' ? 'it broke' : null,
  attempts: 1,
  createdAt: new Date(0).toISOString(),
  finishedAt: null,
});
const container = (name: string, state: ContainerView['state'], project = 'p') => ({ name, state, project }) as ContainerView;
const names = (jobs: JobView[]) => jobs.map((j) => `${j.container ?? j.image} ${j.kind}`);

describe("the overview's recent failed jobs", () => {
  it('drops a failure followed by a completed job of the same container, and keeps one followed only by more failures', () => {
    const recent = [job('a', 'completed', 'start'), job('b', 'failed', 'start'), job('a', 'failed'), job('b', 'failed')];
    expect(names(failedJobsThatMatter(recent, [container('a', 'running'), container('b', 'failed')]))).toEqual(['b start', 'b launch']);
  });

  it('drops the failures of a container that runs now, even with no completed job in view', () => {
    expect(names(failedJobsThatMatter([job('a', 'failed')], [container('a', 'running')]))).toEqual([]);
  });

  it('keeps a failure that came after the completed job', () => {
    const recent = [job('a', 'failed', 'stop'), job('a', 'completed', 'start')];
    expect(names(failedJobsThatMatter(recent, [container('a', 'stopped')]))).toEqual(['a stop']);
  });

  it('tells containers of the same name in two projects apart, and keeps failed pulls', () => {
    const recent = [job('a', 'completed', 'start', 'q'), job('a', 'failed', 'launch', 'p'), job(null, 'failed', 'pull')];
    expect(names(failedJobsThatMatter(recent, []))).toEqual(['a launch', 'busybox pull']);
  });

  it('still shows up to five that matter when dropped ones come first', () => {
    const recent = [job('ok', 'completed', 'start'), ...Array.from({ length: 4 }, () => job('ok', 'failed'))];
    for (const name of ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']) recent.push(job(name, 'failed'));
    expect(names(failedJobsThatMatter(recent, []))).toEqual(['c1 launch', 'c2 launch', 'c3 launch', 'c4 launch', 'c5 launch']);
  });
});
