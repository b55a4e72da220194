import { Field } from './field';
import type { CreateForm, IssuesFor, UpdateCreateForm } from '../create-container-model';

/** The create form's limits section: memory, processes and CPUs. */
export function LimitsFields({ form, update, errorsFor }: { form: CreateForm; update: UpdateCreateForm; errorsFor: IssuesFor }) {
  const { memory, pids, cpus } = form;
  return (
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
          onInput={(e) => update({ memory: e.currentTarget.value })}
        />
      </Field>
      <Field id="limits.pids" label="Processes" errors={errorsFor('limits.pids')}>
        <input
          id="limits.pids"
          type="number"
          min={1}
          inputMode="numeric"
          value={pids}
          onInput={(e) => update({ pids: e.currentTarget.value })}
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
          onInput={(e) => update({ cpus: e.currentTarget.value })}
        />
      </Field>
    </fieldset>
  );
}
