import { useRef, useState } from 'preact/hooks';
import { describeError, post, validationIssues, type ValidationIssue } from '../api';
import { notify } from '../notices';
import { inProject, useProjectScope } from '../project';
import { useSession } from '../session';
import { Field } from './field';
import { DEFAULT_PROJECT, ROLES, type CreatedTokenView, type Role } from '@nagaya/contract';

/** The project select's value for a token of every project (admin tokens only). */
const EVERY_PROJECT = '*';
/** Units of the expiry field, in seconds. */
const UNITS = { hours: 3600, days: 86400 } as const;
type Unit = keyof typeof UNITS;
/** The API's longest expiry (createTokenSchema): ten years. */
const MAX_EXPIRY_SECONDS = 10 * 365 * 86400;

/** Reads the expiry field: empty is never; else a whole number of seconds, or an error for the field. */
function readExpiry(amount: string, unit: Unit): { seconds?: number; error?: string } {
  const t = amount.trim();
  if (t === '') return {};
  const seconds = /^\d+$/.test(t) ? Number(t) * UNITS[unit] : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_EXPIRY_SECONDS)
    return { error: 'a whole number of hours or days, at least 1 and at most ten years; empty: never' };
  return { seconds };
}

/**
 * Makes a token (admins only): name, role, project and an optional expiry. The API shows its
 * secret this once, so `onCreated` hands it to the page, which shows it until dismissed.
 */
export function CreateTokenForm(props: { onCreated: (created: CreatedTokenView) => void; onCancel: () => void }) {
  const session = useSession();
  const scope = useProjectScope();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [project, setProject] = useState(session.project ?? scope.current ?? DEFAULT_PROJECT);
  const [amount, setAmount] = useState('');
  const [unit, setUnit] = useState<Unit>('days');
  const [error, setError] = useState<unknown>(null);
  const [sending, setSending] = useState(false);
  const expiry = readExpiry(amount, unit);
  const local: ValidationIssue[] = [
    ...(expiry.error ? [{ path: 'expiresInSeconds', message: expiry.error }] : []),
    ...(project === EVERY_PROJECT && role !== 'admin' ? [{ path: 'project', message: 'only an admin token spans every project' }] : []),
  ];
  const issues = [...local, ...validationIssues(error)];
  const issuesOf = (field: string) => issues.filter((i) => i.path === field);
  const submit = async (event: Event) => {
    event.preventDefault();
    if (local.length > 0) return;
    setError(null);
    setSending(true);
    try {
      const created = await post<CreatedTokenView>(inProject('/tokens', session.project ?? scope.current ?? DEFAULT_PROJECT), {
        name: name.trim(),
        role,
        project: project === EVERY_PROJECT ? null : project,
        ...(expiry.seconds === undefined ? {} : { expiresInSeconds: expiry.seconds }),
      });
      notify(`token ${created.name} created`);
      props.onCreated(created);
    } catch (err) {
      setError(err);
    } finally {
      setSending(false);
    }
  };
  const projects = scope.projects?.map((p) => p.name) ?? [];
  if (!projects.includes(project) && project !== EVERY_PROJECT) projects.unshift(project);
  return (
    <form class="create-form" aria-label="Create a token" onSubmit={(e) => void submit(e)} noValidate>
      <fieldset>
        <legend>New token</legend>
        <Field id="token-name" label="Name" hint="who or what will use it" errors={issuesOf('name')}>
          <input id="token-name" required autoComplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field
          id="token-role"
          label="Role"
          hint="viewer reads; operator also acts on containers; admin also on tokens"
          errors={issuesOf('role')}
        >
          <select id="token-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </Field>
        <Field id="token-project" label="Project" errors={issuesOf('project')}>
          {session.project !== null ? (
            <input id="token-project" value={session.project} readOnly />
          ) : (
            <select id="token-project" value={project} onChange={(e) => setProject(e.currentTarget.value)}>
              {projects.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
              <option value={EVERY_PROJECT}>every project (admin role)</option>
            </select>
          )}
        </Field>
        <Field id="token-expiry" label="Expires after" hint="empty: never" errors={issuesOf('expiresInSeconds')}>
          <input
            id="token-expiry"
            inputMode="numeric"
            autoComplete="off"
            value={amount}
            onInput={(e) => setAmount(e.currentTarget.value)}
          />
        </Field>
        <Field id="token-expiry-unit" label="Unit" errors={[]}>
          <select id="token-expiry-unit" value={unit} onChange={(e) => setUnit(e.currentTarget.value as Unit)}>
            {Object.keys(UNITS).map((u) => (
              <option key={u} value={u}>
                {u}
              </option>
            ))}
          </select>
        </Field>
      </fieldset>
      {Boolean(error) && validationIssues(error).every((i) => i.path === '') && (
        <div class="banner error" role="alert">
          {describeError(error)}
        </div>
      )}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={sending || !name.trim() || local.length > 0}>
          Create token
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/**
 * The secret of a token just made, shown this once: in a read-only box to copy, with a warning.
 * Dismissing it (or leaving the page) drops it; nothing can show it again.
 */
export function NewTokenSecret(props: { created: CreatedTokenView; onDismiss: () => void }) {
  const box = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState('');
  const copy = async () => {
    box.current?.select();
    try {
      await navigator.clipboard.writeText(props.created.token);
      setCopied('Copied.');
    } catch (err) {
      // the clipboard API needs a secure context and the page's focus: the text is selected for Ctrl+C instead
      setCopied(`Selected: press Ctrl+C to copy (${describeError(err)}).`);
    }
  };
  return (
    <section class="token-secret" aria-label={`Secret of token ${props.created.name}`}>
      <h2>Token {props.created.name} created</h2>
      <p class="banner warning" role="alert">
        Copy this secret now: it is shown only this once. nagaya keeps only its hash, so it cannot be shown again; a lost secret means a new
        token.
      </p>
      <div class="secret-row">
        <input
          ref={box}
          class="mono secret-box"
          data-testid="token-secret"
          aria-label="Token secret"
          readOnly
          value={props.created.token}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" class="primary" onClick={props.onDismiss}>
          I have stored it
        </button>
      </div>
      {copied && <p class="muted">{copied}</p>}
    </section>
  );
}
