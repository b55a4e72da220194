import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Role } from '@nagaya/contract';

/** Who is signed in. The token lives in memory and in sessionStorage (this tab only), never in a URL. */
export interface Session {
  token: string;
  name: string;
  role: Role;
  /** The token's project; null: an admin token of every project. */
  project: string | null;
}

const KEY = 'nagaya.dashboard.token';

export function storedToken(): string | null {
  try {
    return window.sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) window.sessionStorage.setItem(KEY, token);
    else window.sessionStorage.removeItem(KEY);
  } catch {
    // storage disabled: the token stays in memory only
  }
}

export const SessionContext = createContext<Session | null>(null);

/** The signed-in session (pages are only rendered inside one). */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a session');
  return session;
}

/** True for an admin token of every project: it may create projects and change their quotas. */
export function useIsFleetAdmin(): boolean {
  const session = useSession();
  return session.role === 'admin' && session.project === null;
}

/** True when the token may change things (operator or admin); viewers get no mutating controls. */
export function useCanOperate(): boolean {
  return useSession().role !== 'viewer';
}
