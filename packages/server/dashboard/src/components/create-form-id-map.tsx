import { Field } from './field';
import type { CreateForm, IssuesFor, RawRow, UpdateCreateForm } from '../create-container-model';

/** The create form's ID map section: isolated or shared slice, its size, a sticky key and raw entries. */
export function IdMapFields({ form, update, errorsFor }: { form: CreateForm; update: UpdateCreateForm; errorsFor: IssuesFor }) {
  const { isolated, size, key, raw } = form;
  const setRaw = (rows: RawRow[]) => update({ raw: rows });
  const setRawField = (i: number, field: keyof RawRow, value: string) =>
    setRaw(raw.map((r, j) => (j === i ? { ...r, [field]: value } : r)));
  return (
    <fieldset>
      <legend>ID map</legend>
      <Field
        id="idmap.isolated"
        label="Isolated slice"
        hint="unchecked: share the pool's one shared slice"
        errors={errorsFor('idmap.isolated')}
        inline
      >
        <input id="idmap.isolated" type="checkbox" checked={isolated} onChange={(e) => update({ isolated: e.currentTarget.checked })} />
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
          onInput={(e) => update({ size: e.currentTarget.value })}
        />
      </Field>
      <Field id="idmap.key" label="Sticky key" hint="the same key gets the same host IDs again" errors={errorsFor('idmap.key')}>
        <input id="idmap.key" autoComplete="off" value={key} onInput={(e) => update({ key: e.currentTarget.value })} />
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
            <Field id={`idmap.raw.${i}.kind`} label="Kind" errors={[...errorsFor(`idmap.raw.${i}`), ...errorsFor(`idmap.raw.${i}.kind`)]}>
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
  );
}
