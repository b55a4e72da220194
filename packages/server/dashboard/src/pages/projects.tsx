import { useState } from 'preact/hooks';
import { call, describeError, get, validationIssues, type ValidationIssue } from '../api';
import { ErrorBanner, Loading, PageHeader, ProjectTag } from '../components/common';
import { Field } from '../components/field';
import { ageOf, when } from '../format';
import { notify } from '../notices';
import { PROJECT_USE_EVENTS } from '../live-events';
import { usePoll } from '../poll';
import { useProjectScope } from '../project';
import { useIsFleetAdmin } from '../session';
import { fieldOfIssue, noQuotas, QuotaFields, QuotaTable, quotaText, readQuotas } from '../components/project-quotas';
import { DNS_LABEL, DNS_LABEL_MESSAGE, QUOTA_NAMES, type ProjectView, type QuotaName } from '@nagaya/contract';

export function ProjectsPage() {
  const scope = useProjectScope();
  const fleetAdmin = useIsFleetAdmin();
  const { data, error, updatedAt, refresh } = usePoll(
    () => get<{ projects: ProjectView[] }>('/projects'),
    'projects-page',
    3000,
    PROJECT_USE_EVENTS,
  );
  const [creating, setCreating] = useState(false);
  const changed = () => {
    refresh();
    scope.refresh();
  };
  return (
    <section>
      <PageHeader title="Projects" updatedAt={updatedAt}>
        {fleetAdmin && !creating && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New project
          </button>
        )}
      </PageHeader>
      <ErrorBanner error={error} prefix="Could not load the projects" />
      {creating && (
        <CreateProjectForm
          onDone={(created) => {
            setCreating(false);
            if (created) changed();
          }}
        />
      )}
      {!data
        ? !error && <Loading />
        : data.projects.map((p) => (
            <ProjectCard key={p.name} project={p} inView={scope.current === p.name} canEdit={fleetAdmin} onChanged={changed} />
          ))}
    </section>
  );
}

function ProjectCard(props: { project: ProjectView; inView: boolean; canEdit: boolean; onChanged: () => void }) {
  const p = props.project;
  const [editing, setEditing] = useState(false);
  const over = QUOTA_NAMES.filter((q) => p.quotas[q].limit !== null && p.quotas[q].used > p.quotas[q].limit!);
  return (
    <article class="card project" data-project={p.name} aria-label={`Project ${p.name}`}>
      <h2>
        <ProjectTag name={p.name} />
        {props.inView && <span class="badge">in view</span>}
        {over.length > 0 && <span class="badge over-quota">over quota</span>}
        {props.canEdit && !editing && (
          <button type="button" class="small" onClick={() => setEditing(true)} aria-label={`Edit quotas of ${p.name}`}>
            Edit quotas
          </button>
        )}
      </h2>
      <p class={p.description ? 'description' : 'description muted'}>{p.description || 'No description.'}</p>
      <dl class="facts">
        <dt>Raw ID maps</dt>
        <dd data-testid="raw-idmap">{p.rawIdmapAllowed ? 'allowed: containers may map chosen host IDs (idmap.raw)' : 'not allowed'}</dd>
        <dt>Created</dt>
        <dd title={when(p.createdAt)}>{ageOf(p.createdAt)} ago</dd>
      </dl>
      {editing ? (
        <EditQuotasForm
          project={p}
          onDone={(saved) => {
            setEditing(false);
            if (saved) props.onChanged();
          }}
        />
      ) : (
        <QuotaTable project={p} />
      )}
    </article>
  );
}

/** Form state shared by both forms: issues beside fields, the API's error (with its code) above them. */
function useFormErrors() {
  const [issues, setIssues] = useState<ValidationIssue[]>([]);
  const [formError, setFormError] = useState('');
  return {
    issues,
    formError,
    errorsFor: (field: string) => issues.filter((i) => fieldOfIssue(i.path) === field),
    clear: () => {
      setIssues([]);
      setFormError('');
    },
    local: (found: ValidationIssue[]) => {
      setIssues(found);
      setFormError(found.length ? 'Some fields need fixing; see the messages beside them.' : '');
    },
    fromApi: (err: unknown) => {
      setIssues(validationIssues(err));
      setFormError(describeError(err));
    },
  };
}

function FormErrors(props: { id: string; errors: ReturnType<typeof useFormErrors> }) {
  const { formError, issues } = props.errors;
  return (
    <div id={props.id} role="alert">
      {formError && <div class="banner error">{formError}</div>}
      {issues
        .filter((i) => fieldOfIssue(i.path) === '' && i.message !== formError)
        .map((i) => (
          <div class="banner error" key={i.path + i.message}>
            {i.path ? `${i.path}: ` : ''}
            {i.message}
          </div>
        ))}
    </div>
  );
}

/** POST /projects: a name, an optional description, raw ID maps allowed or not, and quotas. */
function CreateProjectForm(props: { onDone: (created: boolean) => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [rawIdmapAllowed, setRawIdmapAllowed] = useState(false);
  const [values, setValues] = useState(noQuotas);
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors();

  const submit = async (event: Event) => {
    event.preventDefault();
    errors.clear();
    const { quotas, issues } = readQuotas(values);
    const trimmed = name.trim();
    if (!DNS_LABEL.test(trimmed)) issues.unshift({ path: 'name', message: DNS_LABEL_MESSAGE });
    if (description.length > 500) issues.push({ path: 'description', message: 'at most 500 characters' });
    if (issues.length) {
      errors.local(issues);
      return;
    }
    const limits = Object.fromEntries(Object.entries(quotas).filter(([, v]) => v !== null));
    setBusy(true);
    try {
      await call('POST', '/projects', {
        name: trimmed,
        ...(description.trim() ? { description: description.trim() } : {}),
        ...(rawIdmapAllowed ? { rawIdmapAllowed } : {}),
        ...(Object.keys(limits).length ? { quotas: limits } : {}),
      });
      notify(`project ${trimmed} created`);
      props.onDone(true);
    } catch (err) {
      errors.fromApi(err);
      setBusy(false);
    }
  };

  return (
    <form
      class="create-form project-form"
      onSubmit={(e) => void submit(e)}
      noValidate
      aria-label="New project"
      aria-describedby="new-project-errors"
    >
      <FormErrors id="new-project-errors" errors={errors} />
      <fieldset>
        <legend>New project</legend>
        <Field id="project-name" label="Name" hint="a DNS label: a-z, 0-9 and -" errors={errors.errorsFor('name')}>
          <input id="project-name" name="name" required autoComplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field id="project-description" label="Description" hint="optional, up to 500 characters" errors={errors.errorsFor('description')}>
          <input
            id="project-description"
            name="description"
            maxLength={500}
            value={description}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </Field>
        <Field
          id="project-raw"
          label="Allow raw ID maps"
          hint="containers may map chosen host IDs straight in (idmap.raw)"
          errors={[]}
          inline
        >
          <input id="project-raw" type="checkbox" checked={rawIdmapAllowed} onChange={(e) => setRawIdmapAllowed(e.currentTarget.checked)} />
        </Field>
      </fieldset>
      <QuotaFields idPrefix="new-" values={values} onChange={(q, v) => setValues({ ...values, [q]: v })} errorsFor={errors.errorsFor} />
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create project'}
        </button>
        <button type="button" onClick={() => props.onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** PATCH /projects/:name with the quotas whose inputs changed (an emptied input removes that limit). */
function EditQuotasForm(props: { project: ProjectView; onDone: (saved: boolean) => void }) {
  const p = props.project;
  const [initial] = useState(
    () => Object.fromEntries(QUOTA_NAMES.map((q) => [q, quotaText(q, p.quotas[q].limit)])) as Record<QuotaName, string>,
  );
  const [values, setValues] = useState(initial);
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors();
  const formId = `edit-${p.name}-errors`;

  const submit = async (event: Event) => {
    event.preventDefault();
    errors.clear();
    const { quotas, issues } = readQuotas(values, (q) => values[q].trim() !== initial[q].trim());
    if (issues.length) {
      errors.local(issues);
      return;
    }
    if (Object.keys(quotas).length === 0) {
      props.onDone(false);
      return;
    }
    setBusy(true);
    try {
      await call('PATCH', `/projects/${encodeURIComponent(p.name)}`, { quotas });
      notify(`quotas of ${p.name} saved`);
      props.onDone(true);
    } catch (err) {
      errors.fromApi(err);
      setBusy(false);
    }
  };

  return (
    <form
      class="create-form project-form"
      onSubmit={(e) => void submit(e)}
      noValidate
      aria-label={`Quotas of ${p.name}`}
      aria-describedby={formId}
    >
      <FormErrors id={formId} errors={errors} />
      <QuotaFields
        idPrefix={`${p.name}-`}
        values={values}
        onChange={(q, v) => setValues({ ...values, [q]: v })}
        errorsFor={errors.errorsFor}
      />
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save quotas'}
        </button>
        <button type="button" onClick={() => props.onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
