import { useState } from 'preact/hooks';
import { get } from '../api';
import { ErrorBanner, Loading, PageHeader } from '../components/common';
import { ImportImageForm } from '../components/image-import';
import { PullImageForm } from '../components/image-pull';
import { ImageTable } from '../components/image-table';
import { usePoll } from '../poll';
import { IMAGE_EVENTS } from '../live-events';
import { inProject, projectOf, useProjectScope } from '../project';
import { useCanOperate } from '../session';
import type { ImageView } from '@nagaya/contract';

/**
 * The images of the project in view (or of every project): list with layers and launch defaults,
 * and for operators import (an upload with progress), pull (a job with progress) and delete.
 */
export function ImagesPage() {
  const canOperate = useCanOperate();
  const scope = useProjectScope();
  const allProjects = scope.current === null;
  const { data, error, updatedAt, refresh } = usePoll(
    () => get<{ images: ImageView[] }>(inProject('/images', scope.current)),
    'images',
    5000,
    IMAGE_EVENTS,
  );
  const [form, setForm] = useState<'import' | 'pull' | null>(null);
  // with every project in view a new image goes to the project chosen here
  const [target, setTarget] = useState(() => projectOf(null, scope.current));
  return (
    <section>
      <PageHeader title="Images" updatedAt={updatedAt}>
        {canOperate && (
          <>
            <button
              type="button"
              class="primary"
              aria-pressed={form === 'import'}
              onClick={() => setForm(form === 'import' ? null : 'import')}
            >
              Import
            </button>
            <button type="button" aria-pressed={form === 'pull'} onClick={() => setForm(form === 'pull' ? null : 'pull')}>
              Pull
            </button>
          </>
        )}
      </PageHeader>
      {canOperate && form && allProjects && (
        <label class="inline-field target-project">
          Into project
          <select value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
            {(scope.projects ?? [{ name: target }]).map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {canOperate && form === 'import' && <ImportImageForm project={target} onImported={refresh} onCancel={() => setForm(null)} />}
      {canOperate && form === 'pull' && <PullImageForm project={target} onPulled={refresh} onCancel={() => setForm(null)} />}
      <ErrorBanner error={error} prefix="Could not load the images" />
      {!data ? (
        !error && <Loading />
      ) : (
        <>
          <p class="muted summary">
            {data.images.length} image{data.images.length === 1 ? '' : 's'}. Open a row for its layers: a layer several images share has the
            same colour in each.
          </p>
          <ImageTable images={data.images} allProjects={allProjects} canOperate={canOperate} onChanged={refresh} />
        </>
      )}
    </section>
  );
}
