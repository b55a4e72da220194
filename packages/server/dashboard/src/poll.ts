import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { isLive, onEvent, onLiveChange, type LiveEvent } from './live-events';

export interface Polled<T> {
  data: T | undefined;
  error: unknown;
  /** When data last arrived (ms since epoch). */
  updatedAt: number | undefined;
  /** Loads again now (after an action) instead of waiting for the next tick. */
  refresh: () => void;
}

/**
 * Loads `load()` now and again every `intervalMs` after each answer, while the page is shown
 * (short polling: the screen follows the fleet without a reload). `key` restarts it. With
 * `intervalMs` null it never loads on a timer: only now, on refresh() and when the tab is shown
 * again (for what has no events and changes only by the page's own actions).
 *
 * With `events` (event types, or kinds such as 'container' for all of its types, or a test of
 * each event), it loads again on each such event of the fleet's event stream instead, within a moment of the change, and
 * polls only while the stream is down.
 */
export function usePoll<T>(
  load: () => Promise<T>,
  key: string,
  intervalMs: number | null = 2000,
  events?: readonly string[] | ((event: LiveEvent) => boolean),
): Polled<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; updatedAt: number | undefined }>({
    data: undefined,
    error: undefined,
    updatedAt: undefined,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  // the latest test of events (a page's closure over its props), read when an event comes
  const eventsRef = useRef(events);
  eventsRef.current = events;
  const followsEvents = events !== undefined;
  const kick = useRef<() => void>(() => undefined);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let again = false;
    let lastJson: string | undefined;
    setState({ data: undefined, error: undefined, updatedAt: undefined });
    const tick = async () => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      clearTimeout(timer);
      running = true;
      try {
        const data = await loadRef.current();
        // An unchanged answer keeps the same object, so pages (and the map's canvas) skip the redraw.
        const json = JSON.stringify(data);
        const same = json === lastJson;
        lastJson = json;
        if (!stopped) setState((s) => ({ data: same ? s.data : data, error: undefined, updatedAt: Date.now() }));
      } catch (error) {
        if (!stopped) setState((s) => ({ ...s, error }));
        // What is gone stays gone: stop asking (a reload or a new key starts again).
        if (error instanceof ApiError && error.status === 404) stopped = true;
      } finally {
        running = false;
      }
      if (stopped) return;
      if (again) {
        again = false;
        void tick();
      } else if (intervalMs !== null && !(followsEvents && isLive())) {
        timer = setTimeout(() => void tick(), document.hidden ? intervalMs * 5 : intervalMs);
      }
    };
    kick.current = () => void tick();
    void tick();
    const stopEvents = followsEvents
      ? onEvent((event) => {
          const wanted = eventsRef.current;
          const matches =
            typeof wanted === 'function' ? wanted(event) : wanted?.some((t) => event.type === t || event.type.startsWith(`${t}.`));
          if (matches) void tick();
        })
      : undefined;
    // the stream opening or closing: load once (what changed meanwhile), then poll only if it is down
    const stopLiveWatch = followsEvents ? onLiveChange(() => void tick()) : undefined;
    const onVisible = () => {
      if (!document.hidden) void tick();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      clearTimeout(timer);
      stopEvents?.();
      stopLiveWatch?.();
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [key, intervalMs, followsEvents]);

  const refresh = useCallback(() => kick.current(), []);
  return { ...state, refresh };
}
