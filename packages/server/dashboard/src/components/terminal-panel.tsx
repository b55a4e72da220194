import { useEffect, useRef, useState } from 'preact/hooks';
import type { ContainerView } from '@nagaya/contract';
import { describeError, sessionToken } from '../api';
import { inProject } from '../project';
import { useCanOperate } from '../session';

/** Where a session is: xterm.js and the socket on their way, the shell running, or its end. */
type SessionState = { phase: 'connecting' } | { phase: 'running' } | { phase: 'ended'; text: string; failed: boolean };

/** A "Terminal" panel on a running container's page (operators only): a shell on a tty in the container, opened on request. */
export function TerminalPanel(props: { container: ContainerView }) {
  const canOperate = useCanOperate();
  const [session, setSession] = useState(0);
  if (!canOperate) return null;
  const running = props.container.state === 'running';
  return (
    <section aria-label="Terminal">
      <h2>Terminal</h2>
      {session > 0 && running ? (
        <TerminalSession
          key={session}
          name={props.container.name}
          project={props.container.project}
          onNew={() => setSession(session + 1)}
          onClose={() => setSession(0)}
        />
      ) : (
        <p>
          <button type="button" class="primary" disabled={!running} onClick={() => setSession(session + 1)}>
            Open terminal
          </button>{' '}
          <span class="muted">{running ? 'a shell on a tty in the container' : 'the container is not running'}</span>
        </p>
      )}
    </section>
  );
}

/**
 * One session (see terminal-session.ts), shown with its state and size. Leaving the page, closing
 * the panel or the container stopping unmounts it, which closes the socket and kills the shell.
 */
function TerminalSession(props: { name: string; project: string; onNew: () => void; onClose: () => void }) {
  const { name, project } = props;
  const host = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<SessionState>({ phase: 'connecting' });
  const [size, setSize] = useState({ rows: 0, cols: 0 });

  useEffect(() => {
    let close: (() => void) | undefined;
    let left = false;
    const path = inProject(`/containers/${encodeURIComponent(name)}/exec`, project);
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1${path}`;
    import('../terminal-session')
      .then(({ openTerminal }) => {
        if (left || !host.current) return;
        close = openTerminal(host.current, url, sessionToken(), {
          onRunning: () => setState({ phase: 'running' }),
          onEnded: (text, failed) => setState({ phase: 'ended', text, failed }),
          onSize: (rows, cols) => setSize({ rows, cols }),
        });
      })
      .catch((err: unknown) => setState({ phase: 'ended', text: `could not load the terminal: ${describeError(err)}`, failed: true }));
    return () => {
      left = true;
      close?.();
    };
  }, [name, project]);

  const ended = state.phase === 'ended';
  return (
    <div class="terminal-panel">
      <div class="terminal-bar">
        <span role="status" data-testid="terminal-status" class={ended && state.failed ? 'error-text' : 'muted'}>
          {state.phase === 'connecting' ? 'connecting…' : state.phase === 'running' ? 'connected' : state.text}
        </span>
        <span class="muted mono" data-testid="terminal-size">
          {size.cols}×{size.rows}
        </span>
        {ended && (
          <button type="button" onClick={props.onNew}>
            New session
          </button>
        )}
        <button type="button" onClick={props.onClose}>
          Close terminal
        </button>
      </div>
      <div class="terminal" ref={host} data-testid="terminal" data-rows={size.rows} data-cols={size.cols} />
    </div>
  );
}
