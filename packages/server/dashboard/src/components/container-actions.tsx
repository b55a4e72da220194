import { del, describeError, post, settled } from '../api';
import { notify } from '../notices';
import { inProject } from '../project';
import { navigate } from '../router';
import { useCanOperate } from '../session';
import { stopText, type ContainerView } from '@nagaya/contract';
import { ConfirmButton } from './common';

/** Start, stop, restart and delete, each behind a confirmation; nothing at all for a viewer. */
export function ContainerActions(props: { container: ContainerView; onDone: () => void; small?: boolean; afterDelete?: string }) {
  const canOperate = useCanOperate();
  if (!canOperate) return null;
  const c = props.container;
  const name = encodeURIComponent(c.name);
  const act = async (what: 'start' | 'stop' | 'restart' | 'delete') => {
    try {
      if (what === 'delete' && props.afterDelete) {
        // Leave the container's page first and let its last reads land, so none of them races
        // the delete into a 404.
        navigate(props.afterDelete);
        await settled();
      }
      // the confirm dialog is the user's word: a running container is killed at once (force)
      if (what === 'delete') await del(inProject(`/containers/${name}?force=1`, c.project));
      else await post(inProject(`/containers/${name}/${what}`, c.project), {});
      notify(`${what} of ${c.name} queued`);
    } catch (err) {
      notify(`${what} of ${c.name} failed: ${describeError(err)}`, 'error');
    }
    props.onDone();
  };
  const busy = c.state === 'deleting';
  // a restarting container waits out its backoff: a stop keeps it down
  const live = c.state === 'running' || c.state === 'starting' || c.state === 'pending' || c.state === 'restarting';
  return (
    <fieldset class="actions" aria-label={`Actions for ${c.name}`}>
      <ConfirmButton
        small={props.small}
        label="Start"
        title={`Start ${c.name}?`}
        confirmLabel={`Start ${c.name}`}
        disabled={busy || (c.state !== 'stopped' && c.state !== 'failed')}
        message={<p>The container's init runs again with the same host ID slice.</p>}
        onConfirm={() => act('start')}
      />
      <ConfirmButton
        small={props.small}
        label="Stop"
        title={`Stop ${c.name}?`}
        confirmLabel={`Stop ${c.name}`}
        disabled={busy || !live}
        message={
          <p>
            Its init gets {stopText(c.stopSignal, c.stopTimeoutSeconds)}. It keeps its slice, and its restart policy leaves it stopped until
            a start.
          </p>
        }
        onConfirm={() => act('stop')}
      />
      <ConfirmButton
        small={props.small}
        label="Restart"
        title={`Restart ${c.name}?`}
        confirmLabel={`Restart ${c.name}`}
        disabled={busy || !['running', 'stopped', 'failed', 'restarting'].includes(c.state)}
        message={<p>Stop, then start again with the same slice.</p>}
        onConfirm={() => act('restart')}
      />
      <ConfirmButton
        small={props.small}
        danger
        label="Delete"
        title={`Delete ${c.name}?`}
        confirmLabel={`Delete ${c.name}`}
        disabled={busy}
        message={
          <p>
            The container is killed at once if it runs (SIGKILL), its storage removed and its ID slice released (quarantined before anyone
            else may get it). This cannot be undone.
          </p>
        }
        onConfirm={() => act('delete')}
      />
    </fieldset>
  );
}
