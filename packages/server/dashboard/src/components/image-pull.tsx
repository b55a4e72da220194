import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, describeError, get, post } from '../api';
import { bytes } from '../format';
import { percentOf } from '../image-model';
import { notify } from '../notices';
import { inProject } from '../project';
import { IMAGE_NAME, IMAGE_NAME_MESSAGE, type JobState } from '@nagaya/contract';
import { StateBadge } from './common';
import { Field } from './field';

/** POST /images/pull's answer: the job that pulls, and the image it makes. */
interface PullStarted {
  job: { id: string };
  image: { project: string; name: string };
}

/** What the form reads of GET /jobs/:id for a pull (bytes are null until the manifest is read). */
interface PullJob {
  state: JobState;
  progress: number;
  bytesDone?: number | null;
  bytesTotal?: number | null;
  error: string | null;
}

const POLL_MS = 500;

/**
 * Pulls an image from a registry: a reference, an optional name and optional credentials, which
 * live in this form's memory for this one request (never in storage). The job's progress in bytes
 * is read every 500 ms until it ends.
 */
export function PullImageForm(props: { project: string; onPulled: () => void; onCancel: () => void }) {
  const [reference, setReference] = useState('');
  const [name, setName] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [nameError, setNameError] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [started, setStarted] = useState<PullStarted | null>(null);
  const [sending, setSending] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    const ref = reference.trim();
    const own = name.trim();
    setNameError(own && !IMAGE_NAME.test(own) ? IMAGE_NAME_MESSAGE : '');
    if (!ref || (own && !IMAGE_NAME.test(own))) return;
    setSending(true);
    try {
      const body = {
        reference: ref,
        ...(own ? { name: own } : {}),
        ...(username || password ? { auth: { username, password } } : {}),
      };
      setStarted(await post<PullStarted>(inProject('/images/pull', props.project), body));
    } catch (err) {
      setError(err);
    } finally {
      setSending(false);
    }
  };

  const ended = (job: PullJob, image: PullStarted['image']) => {
    setStarted(null);
    if (job.state === 'completed') {
      notify(`${image.name} pulled into project ${image.project}`);
      setPassword('');
      props.onPulled();
    } else {
      setError(new Error(`the pull of ${image.name} failed: ${job.error ?? 'no reason given'}`));
    }
  };

  const busy = sending || started !== null;
  return (
    <form class="create-form image-form" aria-label="Pull an image" onSubmit={(e) => void submit(e)} noValidate>
      <fieldset>
        <legend>Pull an image</legend>
        <Field
          id="pull-reference"
          label="Reference"
          hint="[registry/]repository[:tag][@digest], e.g. docker.io/library/alpine:3"
          errors={[]}
        >
          <input
            id="pull-reference"
            name="reference"
            required
            autoComplete="off"
            disabled={busy}
            value={reference}
            onInput={(e) => setReference(e.currentTarget.value)}
          />
        </Field>
        <Field
          id="pull-name"
          label="Name"
          hint="optional; default the repository's last part and the tag"
          errors={nameError ? [{ path: 'name', message: nameError }] : []}
        >
          <input
            id="pull-name"
            name="name"
            autoComplete="off"
            disabled={busy}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </Field>
        <Field id="pull-username" label="Username" hint="optional, for a private registry" errors={[]}>
          <input
            id="pull-username"
            name="username"
            autoComplete="off"
            disabled={busy}
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </Field>
        <Field id="pull-password" label="Password" hint="sent with this pull only; never stored" errors={[]}>
          <input
            id="pull-password"
            name="password"
            type="password"
            autoComplete="off"
            disabled={busy}
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </Field>
      </fieldset>
      {started && <PullProgress started={started} onEnded={(job) => ended(job, started.image)} />}
      {Boolean(error) && (
        <div class="banner error" role="alert" data-testid="pull-error">
          {pullFailure(error)}
        </div>
      )}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy || !reference.trim()}>
          {busy ? 'Pulling…' : 'Pull'}
        </button>
        <button type="button" disabled={sending} onClick={props.onCancel}>
          Close
        </button>
      </div>
    </form>
  );
}

/** Why a pull could not start or finish; a server without the pull endpoint says so plainly. */
function pullFailure(err: unknown): string {
  if (err instanceof ApiError && err.status === 404 && /no route/.test(err.message))
    return `This server cannot pull images yet: ${describeError(err)}`;
  return `Pull failed: ${describeError(err)}`;
}

/** Reads the pull's job every 500 ms and shows its bytes until it completes or fails. */
function PullProgress(props: { started: PullStarted; onEnded: (job: PullJob) => void }) {
  const { job, image } = props.started;
  const [seen, setSeen] = useState<PullJob | null>(null);
  const [lookError, setLookError] = useState<unknown>(null);
  // the latest callback, without restarting the polling when the parent renders again
  const onEnded = useRef(props.onEnded);
  onEnded.current = props.onEnded;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const look = async () => {
      try {
        const now = await get<PullJob>(inProject(`/jobs/${encodeURIComponent(job.id)}`, image.project));
        if (stopped) return;
        setSeen(now);
        setLookError(null);
        if (now.state === 'completed' || now.state === 'failed') {
          onEnded.current(now);
          return;
        }
      } catch (err) {
        if (stopped) return;
        setLookError(err);
      }
      timer = setTimeout(() => void look(), POLL_MS);
    };
    void look();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [job.id, image.project]);

  const total = seen?.bytesTotal ?? null;
  const done = seen?.bytesDone ?? null;
  const percent = total ? percentOf(done, total) : (seen?.progress ?? 0);
  return (
    <div class="transfer" data-testid="pull-progress" data-job={job.id}>
      <progress max={100} value={percent} aria-label={`Pull of ${image.name}`} />
      <span>
        {image.name}: {seen ? <StateBadge state={seen.state} /> : 'queued'}{' '}
        {total !== null ? `${bytes(done ?? 0)} of ${bytes(total)} (${percent}%)` : 'reading the manifest…'}
      </span>
      {Boolean(lookError) && <span class="error-text"> (could not read the job: {describeError(lookError)})</span>}
    </div>
  );
}
