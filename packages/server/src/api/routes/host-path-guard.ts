import type { MountInput } from '@nagaya/contract/schemas';
import { NagayaError } from '../../errors';
import { mountsHostPath } from '../../services/container-mounts';
import type { TokenIdentity } from '../../store/token-store';
import { hasRole } from '../auth';

/**
 * FORBIDDEN unless the actor is an admin of every project when the mounts name a host path: a
 * host directory is the host's, not a project's, so whoever runs the hosts decides. Container
 * creates and runs both ask here.
 */
export function requireHostPathAdmin(actor: TokenIdentity, mounts: MountInput[] | undefined): void {
  if (!mountsHostPath(mounts) || (hasRole(actor, 'admin') && actor.project === null)) return;
  const why = `a hostPath mount needs an admin token of every project; the token ${actor.name} is ${actor.role}${actor.project ? ` of project ${actor.project}` : ''}`;
  throw new NagayaError('FORBIDDEN', why, { field: 'mounts' });
}
