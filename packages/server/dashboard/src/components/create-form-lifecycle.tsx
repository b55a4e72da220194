import { DEFAULT_STOP_TIMEOUT_SECONDS, RESTART_POLICIES, STOP_SIGNALS, type RestartPolicyName, type StopSignal } from '@nagaya/contract';
import { Field } from './field';
import type { CreateForm, IssuesFor, UpdateCreateForm } from '../create-container-model';

const RESTART_POLICY_LABELS: Record<RestartPolicyName, string> = {
  no: 'no: stays down',
  'on-failure': 'on-failure: after a non-zero exit',
  always: 'always: after any exit',
  'unless-stopped': 'unless-stopped: after any exit, until a stop',
};

/** The create form's lifecycle section: restart policy (with its retry limit for on-failure), init and how a stop goes. */
export function LifecycleFields({ form, update, errorsFor }: { form: CreateForm; update: UpdateCreateForm; errorsFor: IssuesFor }) {
  const { restartPolicy, maxRetries, init, stopSignal, stopTimeout } = form;
  return (
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
          onChange={(e) => update({ restartPolicy: e.currentTarget.value as RestartPolicyName })}
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
            onInput={(e) => update({ maxRetries: e.currentTarget.value })}
          />
        </Field>
      )}
      <Field id="init" label="Init" hint="tini as PID 1: forwards signals, reaps zombies" errors={errorsFor('init')} inline>
        <input id="init" type="checkbox" checked={init} onChange={(e) => update({ init: e.currentTarget.checked })} />
      </Field>
      <Field id="stopSignal" label="Stop signal" hint="what a stop sends first" errors={errorsFor('stopSignal')}>
        <select id="stopSignal" value={stopSignal} onChange={(e) => update({ stopSignal: e.currentTarget.value as StopSignal })}>
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
          onInput={(e) => update({ stopTimeout: e.currentTarget.value })}
        />
      </Field>
    </fieldset>
  );
}
