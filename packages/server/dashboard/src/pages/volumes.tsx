import { useState } from 'preact/hooks';
import { describeError, del, post, validationIssues, get } from '../api';
import { ConfirmButton, ErrorBanner, Link, Loading, PageHeader, ProjectTag } from '../components/common';
import { type Column, DataTable } from '../components/data-table';
import { Field } from '../components/field';
import { ageOf, bytes } from '../format';
import { notify } from '../notices';
import { usePoll } from '../poll';
import { VOLUME_EVENTS } from '../live-events';
import { containerHref, inProject, projectOf, useProjectScope } from '../project';
import { useCanOperate } from '../session';
import { DNS_LABEL, DNS_LABEL_MESSAGE, type VolumeView } from '@nagaya/contract';

/**
 * The volumes of the project in view (or of every project): where each lives, what it uses and
 * who mounts it; operators create and delete them (a mounted volume's delete is refused).
 */
export function VolumesPage() {
  const canOperate = useCanOperate();
  const scope = useProjectScope();
  const allProjects = scope.current === null;
  const { data, error, updatedAt, refresh } = usePoll(
    () => get<{ volumes: VolumeView[] }>(inProject('/volumes', scope.current)),
    'volumes',
    5000,
    VOLUME_EVENTS,
  );
  const [creating, setCreating] = useState(false);
  const columns: Column<VolumeView>[] = [
    { header: 'Project', shown: allProjects, cell: (v) => <ProjectTag name={v.project} /> },
    { header: 'Name', className: 'mono', cell: (v) => v.name },
    { header: 'Node', cell: (v) => v.node },
    { header: 'Used', cell: (v) => (v.usedBytes === null ? '—' : bytes(v.usedBytes)) },
    { header: 'Limit', cell: (v) => (v.sizeBytes === null ? '—' : bytes(v.sizeBytes)) },
    { header: 'Mounted by', cell: mountedBy },
    { header: 'Age', cell: (v) => ageOf(v.createdAt) },
    { header: 'Actions', hideHeader: true, shown: canOperate, cell: (v) => <DeleteVolumeButton volume={v} onDone={refresh} /> },
  ];
  return (
    <section>
      <PageHeader title="Volumes" updatedAt={updatedAt}>
        {canOperate && !allProjects && (
          <button type="button" class="primary" aria-pressed={creating} onClick={() => setCreating(!creating)}>
            New volume
          </button>
        )}
      </PageHeader>
      {creating && (
        <CreateVolumeForm
          project={projectOf(null, scope.current)}
          onCreated={() => {
            setCreating(false);
            refresh();
          }}
        />
      )}
      <ErrorBanner error={error} prefix="Could not load the volumes" />
      {!data ? !error && <Loading /> : <DataTable columns={columns} rows={data.volumes} rowKey={(v) => v.id} />}
    </section>
  );
}

/** The containers that mount a volume, each with the path it is mounted at. */
function mountedBy(v: VolumeView) {
  if (v.mountedBy.length === 0) return '—';
  return v.mountedBy.map((u) => (
    <div key={u.container}>
      <Link href={containerHref(u.container, v.project)}>{u.container}</Link>{' '}
      <span class="muted mono">
        {u.path}
        {u.readOnly ? ' (ro)' : ''}
      </span>
    </div>
  ));
}

function CreateVolumeForm(props: { project: string; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [sending, setSending] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    setSending(true);
    try {
      const v = await post<VolumeView>(inProject('/volumes', props.project), { name: name.trim() });
      notify(`volume ${v.name} created on node ${v.node}`);
      props.onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setSending(false);
    }
  };
  const nameIssues = name && !DNS_LABEL.test(name.trim()) ? [{ path: 'name', message: DNS_LABEL_MESSAGE }] : [];
  return (
    <form class="create-form" aria-label="Create a volume" onSubmit={(e) => void submit(e)} noValidate>
      <fieldset>
        <legend>New volume in project {props.project}</legend>
        <Field id="volume-name" label="Name" hint="a DNS label" errors={[...nameIssues, ...validationIssues(error)]}>
          <input id="volume-name" name="name" required autoComplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
      </fieldset>
      {Boolean(error) && validationIssues(error).length === 0 && (
        <div class="banner error" role="alert">
          {describeError(error)}
        </div>
      )}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={sending || !name.trim() || nameIssues.length > 0}>
          Create
        </button>
      </div>
    </form>
  );
}

function DeleteVolumeButton(props: { volume: VolumeView; onDone: () => void }) {
  const { volume } = props;
  const remove = async () => {
    try {
      await del(inProject(`/volumes/${encodeURIComponent(volume.name)}`, volume.project));
      notify(`volume ${volume.name} deleted`);
    } catch (err) {
      notify(`delete of ${volume.name} failed: ${describeError(err)}`, 'error');
    }
    props.onDone();
  };
  return (
    <ConfirmButton
      small
      danger
      label="Delete"
      title={`Delete volume ${volume.name}?`}
      confirmLabel={`Delete ${volume.name} and its files`}
      disabled={volume.mountedBy.length > 0}
      message={
        <p>Its files on node {volume.node} are removed for good. A container that mounts it, in any state, keeps it from being deleted.</p>
      }
      onConfirm={remove}
    />
  );
}
