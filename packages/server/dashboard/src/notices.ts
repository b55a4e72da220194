import { useEffect, useState } from 'preact/hooks';

/** Short-lived messages after an action ("stop queued"), shown in one polite live region. */
export interface Notice {
  id: number;
  text: string;
  kind: 'info' | 'error';
}

let next = 1;
let notices: Notice[] = [];
const listeners = new Set<(n: Notice[]) => void>();

function emit() {
  for (const l of listeners) l(notices);
}

/** Shows `text` for a few seconds (errors stay until dismissed). */
export function notify(text: string, kind: Notice['kind'] = 'info'): void {
  const notice = { id: next++, text, kind };
  notices = [...notices.slice(-3), notice];
  emit();
  if (kind === 'info') setTimeout(() => dismiss(notice.id), 6000);
}

export function dismiss(id: number): void {
  notices = notices.filter((n) => n.id !== id);
  emit();
}

export function useNotices(): Notice[] {
  const [list, setList] = useState(notices);
  useEffect(() => {
    listeners.add(setList);
    return () => {
      listeners.delete(setList);
    };
  }, []);
  return list;
}
