import { useState } from 'preact/hooks';
import { call, describeError, get, validationIssues, type ValidationIssue } from '../api';
import { ErrorBanner, Loading, PageHeader, ProjectTag } from '../components/common';
import { Field } from '../components/field';
import { ageOf, bytes, when } from '../format';
import { notify } from '../notices';
import { usePoll } from '../poll';
import { useProjectScope } from '../project';
import { useIsFleetAdmin } from '../session';
import { DNS_LABEL, DNS_LABEL_MESSAGE, QUOTA_MEANINGS, QUOTA_NAMES, type ProjectView, type QuotaName } from '@nagaya/contract';

const MIB = 1024 * 1024;

/** How each quota is named, typed into a form (bytes as MiB) and shown. */
const QUOTAS: Record<QuotaName, { label: string; unit?: 'MiB'; decimal?: boolean; show: (n: number) => string }> = {
  containers: { label: 'Containers', show: String },
  slices: { label: 'ID slices', show: String },
  memoryBytes: { label: 'Memory', unit: 'MiB', show: bytes },
  cpus: { label: 'CPUs', decimal: true, show: (n) => String(Math.round(n * 100) / 100) },
  processes: { label: 'Processes', show: String },
  diskBytes: { label: 'Image disk', unit: 'MiB', show: bytes },
  networkInterfaces: { label: 'Network interfaces', show: String },
};

/** Every project with its quotas (used against limit), raw ID map permission and description; admins of every project create and edit. */
export function ProjectsPage() {
  const scope = useProjectScope();
  const fleetAdmin = useIsFleetAdmin();
  const { data, error, updatedAt, refresh } = usePoll(() => get<{ projects: ProjectView[] }>('/projects'), 'projects-page', 3000);
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

/** Use against limit per quota: a bar only where a limit exists, red past it (a quota lowered below use). */
function QuotaTable(props: { project: ProjectView }) {
  const p = props.project;
  return (
    <div class="table-wrap">
      <table class="quotas">
        <thead>
          <tr>
            <th scope="col">Quota</th>
            <th scope="col">Used</th>
            <th scope="col">Limit</th>
            <th scope="col" class="quota-use-head">
              Use
            </th>
          </tr>
        </thead>
        <tbody>
          {QUOTA_NAMES.map((q) => {
            const { used, limit } = p.quotas[q];
            const show = QUOTAS[q].show;
            return (
              <tr key={q} data-quota={q}>
                <th scope="row" title={QUOTA_MEANINGS[q]}>
                  {QUOTAS[q].label}
                </th>
                <td class="num">{show(used)}</td>
                <td class="num">{limit === null ? <span class="muted">no limit</span> : show(limit)}</td>
                <td>{limit !== null && <QuotaBar label={QUOTAS[q].label} used={used} limit={limit} show={show} />}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** How full a quota is: ok, near (80% and up), full (at the limit: nothing more fits) or over (past it). */
function quotaLevel(used: number, limit: number): 'ok' | 'near' | 'full' | 'over' {
  if (used > limit) return 'over';
  if (used === limit) return 'full';
  return used >= 0.8 * limit ? 'near' : 'ok';
}

function QuotaBar(props: { label: string; used: number; limit: number; show: (n: number) => string }) {
  const { used, limit } = props;
  const level = quotaLevel(used, limit);
  const percent = limit > 0 ? Math.min(100, (100 * used) / limit) : used > 0 ? 100 : 0;
  const text = `${props.show(used)} of ${props.show(limit)}`;
  return (
    <div class={`quota-use ${level}`} data-used={used} data-limit={limit} data-level={level}>
      <div class="bar quota-bar" role="img" aria-label={`${props.label}: ${text}${level === 'over' ? ', over quota' : ''}`}>
        <span class="bar-part quota-fill" style={{ width: `${percent}%` }} />
      </div>
      <span class="quota-text">
        {text}
        {level === 'over' && <strong> · over by {props.show(used - limit)}</strong>}
        {level === 'full' && ' · full'}
      </span>
    </div>
  );
}

/** The text a quota's input starts with: its limit (bytes as MiB), or empty for none. */
function quotaText(q: QuotaName, limit: number | null | undefined): string {
  if (limit === null || limit === undefined) return '';
  return String(QUOTAS[q].unit === 'MiB' ? limit / MIB : limit);
}

/** Reads a quota's input: undefined when empty, the limit in the API's unit, or a message why not. */
function readQuota(q: QuotaName, text: string): { value?: number; error?: string } {
  const t = text.trim();
  if (t === '') return {};
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0) return { error: 'a number, 0 or more (empty: no limit)' };
  const spec = QUOTAS[q];
  if (spec.unit === 'MiB') {
    const value = Math.round(n * MIB);
    return value > Number.MAX_SAFE_INTEGER ? { error: 'too large' } : { value };
  }
  if (spec.decimal) return n > 1_000_000 ? { error: 'at most 1000000' } : { value: n };
  if (!Number.isInteger(n)) return { error: 'a whole number' };
  return n > Number.MAX_SAFE_INTEGER ? { error: 'too large' } : { value: n };
}

/** Where an API issue path lands in these forms: "quotas.containers" → that field, "name" → name, else the banner. */
function fieldOfIssue(path: string): string {
  const quota = /^quotas\.(\w+)/.exec(path);
  if (quota && (QUOTA_NAMES as readonly string[]).includes(quota[1]!)) return `quotas.${quota[1]}`;
  return path === 'name' || path === 'description' ? path : '';
}

/** The quota inputs of both forms; empty means no limit. */
function QuotaFields(props: {
  idPrefix: string;
  values: Record<QuotaName, string>;
  onChange: (q: QuotaName, value: string) => void;
  errorsFor: (field: string) => ValidationIssue[];
}) {
  return (
    <fieldset class="quota-fields">
      <legend>Quotas</legend>
      <p class="hint muted">Empty: no limit. A limit below what the project uses already stops new creates; nothing existing is touched.</p>
      {QUOTA_NAMES.map((q) => {
        const spec = QUOTAS[q];
        const id = `${props.idPrefix}quotas.${q}`;
        return (
          <Field
            key={q}
            id={id}
            label={`${spec.label}${spec.unit ? ` (${spec.unit})` : ''}`}
            hint={QUOTA_MEANINGS[q]}
            errors={props.errorsFor(`quotas.${q}`)}
          >
            <input
              id={id}
              name={q}
              type="number"
              min={0}
              step={spec.unit || spec.decimal ? 'any' : 1}
              inputMode={spec.unit || spec.decimal ? 'decimal' : 'numeric'}
              placeholder="no limit"
              value={props.values[q]}
              onInput={(e) => props.onChange(q, e.currentTarget.value)}
            />
          </Field>
        );
      })}
    </fieldset>
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

const noQuotas = () => Object.fromEntries(QUOTA_NAMES.map((q) => [q, ''])) as Record<QuotaName, string>;

/** Reads every quota input: the values the API takes, and the inputs it would refuse. */
function readQuotas(values: Record<QuotaName, string>, only?: (q: QuotaName) => boolean) {
  const quotas: Partial<Record<QuotaName, number | null>> = {};
  const issues: ValidationIssue[] = [];
  for (const q of QUOTA_NAMES) {
    if (only && !only(q)) continue;
    const read = readQuota(q, values[q]);
    if (read.error) issues.push({ path: `quotas.${q}`, message: read.error });
    else quotas[q] = read.value ?? null;
  }
  return { quotas, issues };
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
