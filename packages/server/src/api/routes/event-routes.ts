import { dnsLabel } from '@nagaya/contract/schemas';
import { z } from 'zod';
import { NagayaError } from '../../errors';
import type { FleetEvent } from '../../events/event-hub';
import { streamEvents, type EventFilter } from '../../events/event-stream';
import type { TokenIdentity } from '../../store/token-store';
import { operation, type Operation, type ProjectScope } from '../operation';

/** An event id as a client sends it back (Last-Event-ID, ?since=). */
const EVENT_ID = /^\d{1,15}$/;

const eventQuery = z.strictObject({
  type: z
    .string()
    .regex(/^[a-z]+(\.[a-z]+)?(,[a-z]+(\.[a-z]+)?)*$/, 'a comma-separated list of event types (container, container.state, node, ...)')
    .optional()
    .meta({ description: 'Only these types; a bare kind (container) takes all of its types (container.created, container.state, ...)' }),
  container: dnsLabel.optional().meta({ description: "Only this container's events" }),
  since: z
    .string()
    .regex(EVENT_ID, 'an event id')
    .optional()
    .meta({ description: 'Resume after this event id (as the Last-Event-ID header does, for tools that cannot send it)' }),
});

/**
 * Which projects' events a stream shows: a token of one project, or one that named a project,
 * its project's alone; a token of every project that named none, every project's and the
 * fleet's own (nodes), like GET /jobs.
 */
function visibleProject(actor: TokenIdentity, scope: ProjectScope): string | undefined {
  return actor.project === null && (scope.all || !scope.named) ? undefined : scope.project;
}

/** The filter of one stream: project scope first, then ?type= and ?container=. */
export function eventFilter(project: string | undefined, types: string[] | undefined, container: string | undefined): EventFilter {
  return (event: FleetEvent) =>
    (project === undefined || event.project === project) &&
    (types === undefined || types.some((t) => event.type === t || event.type.startsWith(`${t}.`))) &&
    (container === undefined || event.container === container);
}

/** /events: the fleet's changes as Server-Sent Events. */
export const eventOperations: Operation[] = [
  operation({
    method: 'get',
    path: '/events',
    summary:
      'Changes as Server-Sent Events (container state, jobs, nodes, images, volumes); Last-Event-ID or ?since= resumes without loss over the newest 10,000',
    role: 'viewer',
    scope: 'project',
    success: 200,
    query: eventQuery,
    handle: async ({ req, res, deps, actor, scope, query }) => {
      const lastEventId = req.get('last-event-id');
      if (lastEventId !== undefined && !EVENT_ID.test(lastEventId)) {
        throw new NagayaError('INVALID_INPUT', `Last-Event-ID must be an event id, not ${JSON.stringify(lastEventId.slice(0, 40))}`);
      }
      const since = lastEventId ?? query.since;
      const filter = eventFilter(visibleProject(actor, scope), query.type?.split(','), query.container);
      await streamEvents(res, deps.events, filter, since === undefined ? undefined : Number(since));
    },
  }),
];
