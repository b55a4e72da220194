import { DEFAULT_PROJECT } from '../store/project-store';

/**
 * Sticky idmap keys belong to their project. The allocator keeps one namespace of keys per pool,
 * so a key of project p is handed to it as `@p/<key>`: two projects that use the same key get
 * different host IDs, and neither can tell that the other uses it (a CONFLICT "held by a live
 * owner" would say so). A key a request gives never starts with `@`, so no project's key can be
 * another's. The default project's keys are handed over as given, as every key was before
 * projects.
 */
export function allocatorKey(project: string, key: string): string {
  return project === DEFAULT_PROJECT ? key : `@${project}/${key}`;
}

/** The key a project gave, from the allocator's form of it (allocatorKey's inverse). */
export function projectKey(stored: string): string {
  return stored.startsWith('@') ? stored.slice(stored.indexOf('/') + 1) : stored;
}
