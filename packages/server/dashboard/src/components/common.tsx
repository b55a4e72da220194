import type { PoolStats } from '@nagaya/contract';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from '../api';
import { projectColour } from '../project-colours';
import { linkClick } from '../router';
import { isLive, onLiveChange } from '../live-events';

/** An in-app link. */
export function Link(props: { href: string; children: ComponentChildren; class?: string; 'aria-current'?: 'page' | undefined }) {
  return (
    <a href={props.href} class={props.class} aria-current={props['aria-current']} onClick={linkClick}>
      {props.children}
    </a>
  );
}

/** A coloured badge for a container or job state. */
export function StateBadge(props: { state: string; lastState?: string | null }) {
  // unknown: the container's node is offline; its row's last word is shown beside it
  const title = props.lastState ? `its node is offline; last known state: ${props.lastState}` : undefined;
  return (
    <span class={`badge state-${props.state}`} title={title}>
      {props.state}
      {props.lastState ? ` (was ${props.lastState})` : ''}
    </span>
  );
}

/** A project's name with its colour (the one the ID-space map draws its slices in). */
export function ProjectTag(props: { name: string }) {
  return (
    <span class="project-tag">
      <span class="swatch" style={{ background: projectColour(props.name) }} aria-hidden="true" />
      {props.name}
    </span>
  );
}

/** An error banner (role=alert) for a failed load or action. */
export function ErrorBanner(props: { error: unknown; prefix?: string }) {
  if (!props.error) return null;
  return (
    <div class="banner error" role="alert">
      {props.prefix ? `${props.prefix}: ` : ''}
      {describeError(props.error)}
    </div>
  );
}

/** Page heading with an optional right-hand side (buttons) and a live "updated" hint. */
export function PageHeader(props: { title: string; updatedAt?: number | undefined; children?: ComponentChildren }) {
  return (
    <div class="page-header">
      <h1>{props.title}</h1>
      <div class="page-actions">
        {props.children}
        {props.updatedAt !== undefined && <LiveHint updatedAt={props.updatedAt} />}
      </div>
    </div>
  );
}

function LiveHint(props: { updatedAt: number }) {
  const [, setNow] = useState(0);
  const [streaming, setStreaming] = useState(isLive());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    const stopWatching = onLiveChange(setStreaming);
    return () => {
      clearInterval(t);
      stopWatching();
    };
  }, []);
  // While the event stream is open the page reloads on each change: an old load is not stale.
  if (streaming) {
    return (
      <span class="live" title="Follows the fleet's events">
        ● live
      </span>
    );
  }
  const s = Math.max(0, Math.round((Date.now() - props.updatedAt) / 1000));
  return (
    <span class={`live ${s > 15 ? 'stale' : ''}`} title="Polls the API every few seconds">
      ● live · {s}s ago
    </span>
  );
}

/** "Loading…" until data arrives (unless an error banner says why not). */
export function Loading() {
  return (
    <p class="muted" aria-busy="true">
      Loading…
    </p>
  );
}

/**
 * A button that asks before it acts: a modal <dialog> (keyboard: Tab, Enter, Esc) with the
 * consequences spelled out. `onConfirm` runs only after the second, explicit click.
 */
export function ConfirmButton(props: {
  label: string;
  title: string;
  message: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  disabled?: boolean;
  small?: boolean;
  onConfirm: () => Promise<void> | void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const open = () => dialog.current?.showModal();
  const confirm = async () => {
    setBusy(true);
    try {
      await props.onConfirm();
    } finally {
      setBusy(false);
      dialog.current?.close();
    }
  };
  return (
    <>
      <button
        type="button"
        class={`${props.danger ? 'danger' : ''} ${props.small ? 'small' : ''}`}
        disabled={props.disabled || busy}
        onClick={open}
      >
        {props.label}
      </button>
      <dialog ref={dialog} class="confirm" aria-label={props.title}>
        <h2>{props.title}</h2>
        <div class="confirm-body">{props.message}</div>
        <div class="confirm-actions">
          <button type="button" autofocus onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="button" class={props.danger ? 'danger' : 'primary'} disabled={busy} onClick={() => void confirm()}>
            {props.confirmLabel}
          </button>
        </div>
      </dialog>
    </>
  );
}

/** A horizontal stacked bar of slot counts. */
export function OccupancyBar(props: { parts: Array<{ label: string; value: number; cls: string }>; total: number }) {
  const total = Math.max(1, props.total);
  return (
    <div class="bar" role="img" aria-label={`${props.parts.map((p) => `${p.label} ${p.value}`).join(', ')} of ${props.total}`}>
      {props.parts
        .filter((p) => p.value > 0)
        .map((p) => (
          <span
            key={p.label}
            class={`bar-part ${p.cls}`}
            style={{ width: `${Math.max(0.5, (100 * p.value) / total)}%` }}
            title={`${p.label}: ${p.value}`}
          />
        ))}
    </div>
  );
}

/** A pool's slots by kind, in the ID-space map's colours (the overview and the pools page). */
export function PoolOccupancyBar(props: { stats: PoolStats }) {
  const s = props.stats;
  return (
    <OccupancyBar
      total={s.total}
      parts={[
        { label: 'active', value: s.active, cls: 'c-active' },
        { label: 'shared', value: s.shared, cls: 'c-shared' },
        { label: 'out of pool', value: s.outOfPool, cls: 'c-oop' },
        { label: 'quarantined', value: s.quarantined, cls: 'c-quarantined' },
        { label: 'reserved for key', value: s.keyed, cls: 'c-keyed' },
      ]}
    />
  );
}

/** The logo: a row house (nagaya) of three doors, drawn inline so no font or file is needed. */
export function BrandMark() {
  return (
    <svg class="brand-mark" viewBox="0 0 24 16" width="30" height="20" aria-hidden="true" focusable="false">
      <path d="M1 7 12 1l11 6v9H1z" fill="#dc2626" />
      <rect x="4" y="9" width="4" height="7" fill="#fff" />
      <rect x="10" y="9" width="4" height="7" fill="#fff" />
      <rect x="16" y="9" width="4" height="7" fill="#fff" />
    </svg>
  );
}
