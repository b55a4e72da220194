import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { DEFAULT_PROJECT, type ProjectView } from '@nagaya/contract';

/**
 * The project the dashboard shows. A token of one project sees that project alone; an admin token
 * of every project chooses one, or every project at once (`current` null). The choice is kept in
 * sessionStorage beside the token, and every project-scoped request carries it.
 */
export interface ProjectScope {
  /** The project in view; null: every project (admin tokens of every project only). */
  current: string | null;
  /** The token is of one project, so there is nothing to choose. */
  fixed: boolean;
  /** GET /projects (a token of one project: its own), undefined until it arrives. */
  projects: ProjectView[] | undefined;
  choose: (project: string | null) => void;
  /** Loads the project list again now (after a create). */
  refresh: () => void;
}

const KEY = 'nagaya.dashboard.project';

/** The stored choice: a project name, or null for every project (and when nothing is stored). */
export function storedProject(): string | null {
  try {
    return window.sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function storeProject(project: string | null): void {
  try {
    if (project) window.sessionStorage.setItem(KEY, project);
    else window.sessionStorage.removeItem(KEY);
  } catch {
    // storage disabled: the choice lasts until a reload
  }
}

export const ProjectContext = createContext<ProjectScope | null>(null);

/** The project scope of the signed-in session (pages are only rendered inside one). */
export function useProjectScope(): ProjectScope {
  const scope = useContext(ProjectContext);
  if (!scope) throw new Error('useProjectScope outside a session');
  return scope;
}

/**
 * `path` with the project it acts in: `project=NAME`, or, for a list over every project (null),
 * `all-projects=true`. Only lists may be asked of every project; a single thing needs its own.
 */
export function inProject(path: string, project: string | null): string {
  const sep = path.includes('?') ? '&' : '?';
  return project === null ? `${path}${sep}all-projects=true` : `${path}${sep}project=${encodeURIComponent(project)}`;
}

/** The project a single thing is asked in: its own when known, else the one in view, else the default project. */
export function projectOf(own: string | null | undefined, current: string | null): string {
  return own ?? current ?? DEFAULT_PROJECT;
}

/** The dashboard's address of a container's page (the project goes with it, so a link works whatever is in view). */
export function containerHref(name: string, project: string): string {
  return `/containers/${encodeURIComponent(name)}?project=${encodeURIComponent(project)}`;
}
