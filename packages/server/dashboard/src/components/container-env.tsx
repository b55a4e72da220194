import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { inProject } from '../project';
import { useCanOperate } from '../session';
import { ErrorBanner, Loading } from './common';
import { type Column, DataTable } from './data-table';
import type { ContainerEnvView, ContainerView } from '@nagaya/contract';

/**
 * The container's environment, for operators (the API gives values to them only, as exec does):
 * every name, each value hidden until its own "Show" is clicked. What was shown is kept in this
 * component alone, so leaving the page hides every value again.
 */
export function ContainerEnv(props: { container: ContainerView }) {
  if (!useCanOperate()) return null;
  return <EnvTable name={props.container.name} project={props.container.project} />;
}

function EnvTable(props: { name: string; project: string }) {
  const [env, setEnv] = useState<Record<string, string> | undefined>();
  const [error, setError] = useState<unknown>(null);
  const [shown, setShown] = useState<ReadonlySet<string>>(new Set());
  // The environment is fixed at create: read once when the page opens, not on each event.
  useEffect(() => {
    let left = false;
    get<ContainerEnvView>(inProject(`/containers/${encodeURIComponent(props.name)}/env`, props.project)).then(
      (view) => !left && setEnv(view.env),
      (err: unknown) => !left && setError(err),
    );
    return () => {
      left = true;
    };
  }, [props.name, props.project]);
  const toggle = (name: string) =>
    setShown((before) => {
      const after = new Set(before);
      if (!after.delete(name)) after.add(name);
      return after;
    });
  const names = env ? Object.keys(env).sort() : [];
  const columns: Column<string>[] = [
    {
      header: 'Name',
      className: 'mono',
      cell: (name) => (
        <>
          {name}{' '}
          <button
            type="button"
            class="small"
            aria-pressed={shown.has(name)}
            aria-label={`${shown.has(name) ? 'Hide' : 'Show'} the value of ${name}`}
            onClick={() => toggle(name)}
          >
            {shown.has(name) ? 'hide' : 'show'}
          </button>
        </>
      ),
    },
    // a hidden value is not in the page at all, not merely covered
    {
      header: 'Value',
      className: 'mono env-value',
      testId: 'env-value',
      cell: (name) => (shown.has(name) ? env?.[name] : <span title="hidden: click show">••••</span>),
    },
  ];
  return (
    <>
      <h2>Environment</h2>
      <ErrorBanner error={error} prefix="Could not read the environment" />
      {!env ? (
        !error && <Loading />
      ) : names.length === 0 ? (
        <p class="muted">No variables.</p>
      ) : (
        <div class="table-wrap">
          <DataTable
            className="env"
            testId="env"
            columns={columns}
            rows={names}
            rowKey={(name) => name}
            rowAttributes={(name) => ({ 'data-env': name })}
          />
        </div>
      )}
    </>
  );
}
