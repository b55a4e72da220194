import { useState } from 'preact/hooks';
import { describeError, get, post, validationIssues, type ValidationIssue } from '../api';
import { Link, PageHeader } from '../components/common';
import { ContainerFields } from '../components/create-form-container';
import { IdMapFields } from '../components/create-form-id-map';
import { LifecycleFields } from '../components/create-form-lifecycle';
import { LimitsFields } from '../components/create-form-limits';
import { createRequestOf, EMPTY_CREATE_FORM, fieldOf, type CreateForm } from '../create-container-model';
import { IMAGE_EVENTS, NODE_EVENTS } from '../live-events';
import { notify } from '../notices';
import { usePoll } from '../poll';
import { containerHref, inProject, projectOf, useProjectScope } from '../project';
import { navigate } from '../router';
import type { ImageView, NodeView } from '@nagaya/contract';

/** The create form: every option of POST /containers, with the API's own validation messages beside each field. */
export function CreateContainerPage() {
  const scope = useProjectScope();
  // with every project in view the form asks which one; otherwise it is the one in view
  const [project, setProject] = useState(() => projectOf(null, scope.current));
  const images = usePoll(() => get<{ images: ImageView[] }>(inProject('/images', project)), `images:${project}`, 15_000, IMAGE_EVENTS);
  const nodes = usePoll(() => get<{ nodes: NodeView[] }>('/nodes'), 'nodes', 15_000, NODE_EVENTS);
  const [form, setForm] = useState<CreateForm>(EMPTY_CREATE_FORM);
  const update = (patch: Partial<CreateForm>) => setForm((f) => ({ ...f, ...patch }));
  const [issues, setIssues] = useState<ValidationIssue[]>([]);
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);

  const errorsFor = (field: string) => issues.filter((i) => fieldOf(i.path) === field);
  const unplaced = issues.filter((i) => fieldOf(i.path) === '');

  const submit = async (event: Event) => {
    event.preventDefault();
    setIssues([]);
    setFormError('');
    const request = createRequestOf(form);
    if (request.issue !== undefined) {
      setIssues([request.issue]);
      return;
    }
    setBusy(true);
    const { body } = request;
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
        <ContainerFields
          form={form}
          update={update}
          errorsFor={errorsFor}
          scope={scope}
          project={project}
          setProject={setProject}
          images={images.data?.images}
          nodes={nodes.data?.nodes}
        />
        <LifecycleFields form={form} update={update} errorsFor={errorsFor} />
        <LimitsFields form={form} update={update} errorsFor={errorsFor} />
        <IdMapFields form={form} update={update} errorsFor={errorsFor} />
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create and launch'}
          </button>
        </div>
      </form>
    </section>
  );
}
