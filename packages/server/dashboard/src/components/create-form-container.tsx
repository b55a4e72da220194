import type { ImageView, NodeView } from '@nagaya/contract';
import { Field } from './field';
import type { CreateForm, IssuesFor, UpdateCreateForm } from '../create-container-model';
import type { ProjectScope } from '../project';

/** The create form's first section: the project, name, image, command, environment, mounts and node. */
export function ContainerFields(props: {
  form: CreateForm;
  update: UpdateCreateForm;
  errorsFor: IssuesFor;
  scope: ProjectScope;
  project: string;
  setProject: (project: string) => void;
  images: ImageView[] | undefined;
  nodes: NodeView[] | undefined;
}) {
  const { form, update, errorsFor, scope, project, setProject } = props;
  const { name, image, command, env, mounts, node } = form;
  return (
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
        <input id="name" name="name" required autoComplete="off" value={name} onInput={(e) => update({ name: e.currentTarget.value })} />
      </Field>
      <Field id="image" label="Image" errors={errorsFor('image')}>
        <input id="image" name="image" list="image-list" required value={image} onInput={(e) => update({ image: e.currentTarget.value })} />
        <datalist id="image-list">
          {props.images?.map((i) => (
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
          onInput={(e) => update({ command: e.currentTarget.value })}
        />
      </Field>
      <Field id="env" label="Environment" hint="one NAME=value a line" errors={errorsFor('env')}>
        <textarea id="env" name="env" rows={2} class="mono" value={env} onInput={(e) => update({ env: e.currentTarget.value })} />
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
          onInput={(e) => update({ mounts: e.currentTarget.value })}
        />
      </Field>
      <Field
        id="node"
        label="Node"
        hint="empty: the online node with the fewest containers; a volume's node when one is mounted"
        errors={errorsFor('node')}
      >
        <select id="node" name="node" value={node} onChange={(e) => update({ node: e.currentTarget.value })}>
          <option value="">any</option>
          {props.nodes?.map((n) => (
            <option key={n.name} value={n.name}>
              {n.name}
              {n.online ? '' : ' (offline)'}
            </option>
          ))}
        </select>
      </Field>
    </fieldset>
  );
}
