import { useState } from 'preact/hooks';
import { describeError, get, post, validationIssues, type ValidationIssue } from '../api';
import { Link, PageHeader } from '../components/common';
import { Field } from '../components/field';
import { readMebibytesOrSize, splitArgs } from '../format';
import { notify } from '../notices';
import { usePoll } from '../poll';
import { containerHref, inProject, projectOf, useProjectScope } from '../project';
import { navigate } from '../router';
import {
  DEFAULT_STOP_TIMEOUT_SECONDS,
  parseMountSpec,
  RESTART_POLICIES,
  STOP_SIGNALS,
  type ImageView,
  type MountSpec,
  type NodeView,
  type RestartPolicyName,
  type StopSignal,
} from '@nagaya/contract';

interface RawRow {
  kind: 'uid' | 'gid' | 'both';
  hostId: string;
  nsId: string;
  count: string;
}

/** Fields of the form, by the API path their errors come back under. */
const FIELDS = [
  'name',
  'image',
  'command',
  'env',
  'node',
  'limits.memoryBytes',
  'limits.pids',
  'limits.cpus',
  'idmap.isolated',
  'idmap.size',
  'idmap.key',
  'idmap.raw',
  'mounts',
  'restartPolicy.name',
  'restartPolicy.maxRetries',
  'init',
  'stopSignal',
  'stopTimeoutSeconds',
] as const;

/** Finds the form field an API issue path belongs to ("idmap.raw.0.hostId" → that cell, "limits" → summary). */
function fieldOf(path: string): string {
  if (/^idmap\.raw\.\d+\.(kind|hostId|nsId|count)$/.test(path)) return path;
  if (/^idmap\.raw\.\d+$/.test(path)) return path;
  if (path.startsWith('env.')) return 'env';
  if (path.startsWith('command.')) return 'command';
  if (path === 'restartPolicy') return 'restartPolicy.name';
  return (FIELDS as readonly string[]).find((f) => path === f || path.startsWith(`${f}.`)) ?? '';
}

const RESTART_POLICY_LABELS: Record<RestartPolicyName, string> = {
  no: 'no: stays down',
  'on-failure': 'on-failure: after a non-zero exit',
  always: 'always: after any exit',
  'unless-stopped': 'unless-stopped: after any exit, until a stop',
};

const num = (v: string) => (v.trim() === '' ? undefined : Number(v));

/** The create form: every option of POST /containers, with the API's own validation messages beside each field. */
export function CreateContainerPage() {
  const scope = useProjectScope();
  // with every project in view the form asks which one; otherwise it is the one in view
  const [project, setProject] = useState(() => projectOf(null, scope.current));
  const images = usePoll(() => get<{ images: ImageView[] }>(inProject('/images', project)), `images:${project}`, 15_000);
  const nodes = usePoll(() => get<{ nodes: NodeView[] }>('/nodes'), 'nodes', 15_000);
  const [name, setName] = useState('');
  const [image, setImage] = useState('busybox');
  const [command, setCommand] = useState('');
  const [env, setEnv] = useState('');
  const [node, setNode] = useState('');
  const [memory, setMemory] = useState('');
  const [pids, setPids] = useState('');
  const [cpus, setCpus] = useState('');
  const [isolated, setIsolated] = useState(true);
  const [size, setSize] = useState('');
  const [key, setKey] = useState('');
  const [raw, setRaw] = useState<RawRow[]>([]);
  const [mounts, setMounts] = useState('');
  const [restartPolicy, setRestartPolicy] = useState<RestartPolicyName>('no');
  const [maxRetries, setMaxRetries] = useState('');
  const [init, setInit] = useState(false);
  const [stopSignal, setStopSignal] = useState<StopSignal>('SIGTERM');
  const [stopTimeout, setStopTimeout] = useState('');
  const [issues, setIssues] = useState<ValidationIssue[]>([]);
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);

  const errorsFor = (field: string) => issues.filter((i) => fieldOf(i.path) === field);
  const unplaced = issues.filter((i) => fieldOf(i.path) === '');

  const submit = async (event: Event) => {
    event.preventDefault();
    setIssues([]);
    setFormError('');
    // read here, not by the API: it takes bytes, and a size with a unit is ours to read
    const memoryBytes = readMebibytesOrSize(memory);
    if (memoryBytes.error) {
      setIssues([{ path: 'limits.memoryBytes', message: memoryBytes.error }]);
      return;
    }
    setBusy(true);
    const limits = {
      ...(memoryBytes.bytes === undefined ? {} : { memoryBytes: memoryBytes.bytes }),
      ...(num(pids) === undefined ? {} : { pids: num(pids) }),
      ...(num(cpus) === undefined ? {} : { cpus: num(cpus) }),
    };
    const envEntries = env
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => {
        const eq = l.indexOf('=');
        return eq < 0 ? [l, ''] : [l.slice(0, eq), l.slice(eq + 1)];
      });
    const idmap = {
      ...(isolated ? {} : { isolated: false }),
      ...(num(size) === undefined ? {} : { size: num(size) }),
      ...(key.trim() ? { key: key.trim() } : {}),
      ...(raw.length
        ? { raw: raw.map((r) => ({ kind: r.kind, hostId: num(r.hostId) ?? NaN, nsId: num(r.nsId) ?? NaN, count: num(r.count) ?? NaN })) }
        : {}),
    };
    const mountLines = mounts
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const mountSpecs = mountLines.map(parseMountSpec);
    const unreadable = mountLines.find((_, i) => mountSpecs[i] === undefined);
    if (unreadable !== undefined) {
      setIssues([{ path: 'mounts', message: `not a mount: ${unreadable} (volume:NAME:/path[:ro] or host:/dir:/path[:ro][:shift])` }]);
      setBusy(false);
      return;
    }
    const body = {
      name: name.trim(),
      image: image.trim(),
      ...(command.trim() ? { command: splitArgs(command) } : {}),
      ...(envEntries.length ? { env: Object.fromEntries(envEntries) } : {}),
      ...(Object.keys(limits).length ? { limits } : {}),
      ...(Object.keys(idmap).length ? { idmap } : {}),
      ...(node ? { node } : {}),
      ...(mountSpecs.length ? { mounts: mountSpecs as MountSpec[] } : {}),
      // the defaults (no policy, no init, SIGTERM, the server's grace) stay out of the request
      ...(restartPolicy === 'no'
        ? {}
        : {
            restartPolicy: {
              name: restartPolicy,
              ...(restartPolicy === 'on-failure' && num(maxRetries) !== undefined ? { maxRetries: num(maxRetries) } : {}),
            },
          }),
      ...(init ? { init: true } : {}),
      ...(stopSignal === 'SIGTERM' ? {} : { stopSignal }),
      ...(num(stopTimeout) === undefined ? {} : { stopTimeoutSeconds: num(stopTimeout) }),
    };
    try {
      await post(inProject('/containers', project), body);
      notify(`${body.name} created in project ${project}; launching`);
      navigate(containerHref(body.name, project));
    } catch (err) {
      const found = validationIssues(err);
      if (found.length) setIssues(found);
      else setFormError(describeError(err));
      setBusy(false);
    }
  };

  const setRawField = (i: number, field: keyof RawRow, value: string) =>
    setRaw(raw.map((r, j) => (j === i ? { ...r, [field]: value } : r)));

  return (
    <section>
      <PageHeader title="New container">
        <Link class="button" href="/containers">
          Back to containers
        </Link>
      </PageHeader>
      <form class="create-form" onSubmit={(e) => void submit(e)} noValidate aria-describedby="form-errors">
        <div id="form-errors" role="alert">
          {formError && <div class="banner error">{formError}</div>}
          {unplaced.map((i) => (
            <div class="banner error" key={i.path + i.message}>
              {i.path ? `${i.path}: ` : ''}
              {i.message}
            </div>
          ))}
          {issues.length > 0 && !formError && <p class="sr-only">The server refused the form; see the messages beside the fields.</p>}
        </div>
        <fieldset>
          <legend>Container</legend>
          {scope.current === null && (
            <Field id="project" label="Project" hint="the container, its image and its quota use belong to it" errors={[]}>
              <select id="project" name="project" value={project} onChange={(e) => setProject(e.currentTarget.value)}>
                {(scope.projects ?? [{ name: project }]).map((p) => (
                  <option key={p.name} value={p.name}>
                    {p.name}
                  </option>
                ))}
              </select>
            </Field>
          )}
          <Field id="name" label="Name" hint="a DNS label: a-z, 0-9 and -" errors={errorsFor('name')}>
            <input id="name" name="name" required autoComplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </Field>
          <Field id="image" label="Image" errors={errorsFor('image')}>
            <input id="image" name="image" list="image-list" required value={image} onInput={(e) => setImage(e.currentTarget.value)} />
            <datalist id="image-list">
              {images.data?.images.map((i) => (
                <option key={i.name} value={i.name} />
              ))}
            </datalist>
          </Field>
          <Field
            id="command"
            label="Command"
            hint="argv, split like a shell; empty: a shell that sleeps until stopped"
            errors={errorsFor('command')}
          >
            <input
              id="command"
              name="command"
              class="mono"
              placeholder="/bin/sh -c 'echo hi; sleep 3600'"
              value={command}
              onInput={(e) => setCommand(e.currentTarget.value)}
            />
          </Field>
          <Field id="env" label="Environment" hint="one NAME=value a line" errors={errorsFor('env')}>
            <textarea id="env" name="env" rows={2} class="mono" value={env} onInput={(e) => setEnv(e.currentTarget.value)} />
          </Field>
          <Field
            id="mounts"
            label="Mounts"
            hint="one a line: volume:NAME:/path[:ro], or host:/dir:/path[:ro][:shift] (admin tokens of every project)"
            errors={errorsFor('mounts')}
          >
            <textarea
              id="mounts"
              name="mounts"
              rows={2}
              class="mono"
              placeholder="volume:data:/var/lib/data"
              value={mounts}
              onInput={(e) => setMounts(e.currentTarget.value)}
            />
          </Field>
          <Field
            id="node"
            label="Node"
            hint="empty: the online node with the fewest containers; a volume's node when one is mounted"
            errors={errorsFor('node')}
          >
            <select id="node" name="node" value={node} onChange={(e) => setNode(e.currentTarget.value)}>
              <option value="">any</option>
              {nodes.data?.nodes.map((n) => (
                <option key={n.name} value={n.name}>
                  {n.name}
                  {n.online ? '' : ' (offline)'}
                </option>
              ))}
            </select>
          </Field>
        </fieldset>
        <fieldset>
          <legend>Lifecycle</legend>
          <Field
            id="restartPolicy.name"
            label="Restart policy"
            hint="as Docker's: whether an exit starts it again (a user's stop is always respected)"
            errors={errorsFor('restartPolicy.name')}
          >
            <select
              id="restartPolicy.name"
              value={restartPolicy}
              onChange={(e) => setRestartPolicy(e.currentTarget.value as RestartPolicyName)}
            >
              {RESTART_POLICIES.map((p) => (
                <option key={p} value={p}>
                  {RESTART_POLICY_LABELS[p]}
                </option>
              ))}
            </select>
          </Field>
          {restartPolicy === 'on-failure' && (
            <Field
              id="restartPolicy.maxRetries"
              label="Max retries"
              hint="restarts at most this many times in all; empty: no limit"
              errors={errorsFor('restartPolicy.maxRetries')}
            >
              <input
                id="restartPolicy.maxRetries"
                type="number"
                min={0}
                inputMode="numeric"
                value={maxRetries}
                onInput={(e) => setMaxRetries(e.currentTarget.value)}
              />
            </Field>
          )}
          <Field id="init" label="Init" hint="tini as PID 1: forwards signals, reaps zombies" errors={errorsFor('init')} inline>
            <input id="init" type="checkbox" checked={init} onChange={(e) => setInit(e.currentTarget.checked)} />
          </Field>
          <Field id="stopSignal" label="Stop signal" hint="what a stop sends first" errors={errorsFor('stopSignal')}>
            <select id="stopSignal" value={stopSignal} onChange={(e) => setStopSignal(e.currentTarget.value as StopSignal)}>
              {STOP_SIGNALS.map((sig) => (
                <option key={sig} value={sig}>
                  {sig}
                </option>
              ))}
            </select>
          </Field>
          <Field
            id="stopTimeoutSeconds"
            label="Stop timeout (s)"
            hint={`SIGKILL follows after this grace; empty: ${DEFAULT_STOP_TIMEOUT_SECONDS}`}
            errors={errorsFor('stopTimeoutSeconds')}
          >
            <input
              id="stopTimeoutSeconds"
              type="number"
              min={0}
              max={3600}
              inputMode="numeric"
              placeholder={String(DEFAULT_STOP_TIMEOUT_SECONDS)}
              value={stopTimeout}
              onInput={(e) => setStopTimeout(e.currentTarget.value)}
            />
          </Field>
        </fieldset>
        <fieldset>
          <legend>Limits</legend>
          <Field
            id="limits.memoryBytes"
            label="Memory (MiB)"
            hint="at least 4 MiB; or with a unit: 512M, 2G, 1.5GiB, 500MB"
            errors={errorsFor('limits.memoryBytes')}
          >
            <input
              id="limits.memoryBytes"
              type="text"
              inputMode="decimal"
              spellcheck={false}
              value={memory}
              onInput={(e) => setMemory(e.currentTarget.value)}
            />
          </Field>
          <Field id="limits.pids" label="Processes" errors={errorsFor('limits.pids')}>
            <input
              id="limits.pids"
              type="number"
              min={1}
              inputMode="numeric"
              value={pids}
              onInput={(e) => setPids(e.currentTarget.value)}
            />
          </Field>
          <Field id="limits.cpus" label="CPUs" errors={errorsFor('limits.cpus')}>
            <input
              id="limits.cpus"
              type="number"
              min={0}
              step="any"
              inputMode="decimal"
              value={cpus}
              onInput={(e) => setCpus(e.currentTarget.value)}
            />
          </Field>
        </fieldset>
        <fieldset>
          <legend>ID map</legend>
          <Field
            id="idmap.isolated"
            label="Isolated slice"
            hint="unchecked: share the pool's one shared slice"
            errors={errorsFor('idmap.isolated')}
            inline
          >
            <input id="idmap.isolated" type="checkbox" checked={isolated} onChange={(e) => setIsolated(e.currentTarget.checked)} />
          </Field>
          <Field id="idmap.size" label="Size (IDs)" hint="a multiple of 65536; empty: 65536" errors={errorsFor('idmap.size')}>
            <input
              id="idmap.size"
              type="number"
              min={65536}
              step={65536}
              inputMode="numeric"
              placeholder="65536"
              value={size}
              onInput={(e) => setSize(e.currentTarget.value)}
            />
          </Field>
          <Field id="idmap.key" label="Sticky key" hint="the same key gets the same host IDs again" errors={errorsFor('idmap.key')}>
            <input id="idmap.key" autoComplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
          </Field>
          <div class="raw-entries">
            <p class="field-label">
              Raw entries <span class="muted">(map chosen host IDs into the container)</span>
            </p>
            {errorsFor('idmap.raw').map((i) => (
              <p class="field-error" key={i.message}>
                {i.message}
              </p>
            ))}
            {raw.map((r, i) => (
              <fieldset class="raw-row" key={i} aria-label={`Raw entry ${i + 1}`}>
                <Field
                  id={`idmap.raw.${i}.kind`}
                  label="Kind"
                  errors={[...errorsFor(`idmap.raw.${i}`), ...errorsFor(`idmap.raw.${i}.kind`)]}
                >
                  <select id={`idmap.raw.${i}.kind`} value={r.kind} onChange={(e) => setRawField(i, 'kind', e.currentTarget.value)}>
                    <option value="both">uid+gid</option>
                    <option value="uid">uid</option>
                    <option value="gid">gid</option>
                  </select>
                </Field>
                {(['hostId', 'nsId', 'count'] as const).map((f) => (
                  <Field
                    key={f}
                    id={`idmap.raw.${i}.${f}`}
                    label={{ hostId: 'Host ID', nsId: 'Container ID', count: 'Count' }[f]}
                    errors={errorsFor(`idmap.raw.${i}.${f}`)}
                  >
                    <input
                      id={`idmap.raw.${i}.${f}`}
                      type="number"
                      min={0}
                      inputMode="numeric"
                      value={r[f]}
                      onInput={(e) => setRawField(i, f, e.currentTarget.value)}
                    />
                  </Field>
                ))}
                <button
                  type="button"
                  class="small"
                  onClick={() => setRaw(raw.filter((_, j) => j !== i))}
                  aria-label={`Remove raw entry ${i + 1}`}
                >
                  Remove
                </button>
              </fieldset>
            ))}
            <button type="button" class="small" onClick={() => setRaw([...raw, { kind: 'both', hostId: '', nsId: '', count: '1' }])}>
              Add raw entry
            </button>
          </div>
        </fieldset>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create and launch'}
          </button>
        </div>
      </form>
    </section>
  );
}
