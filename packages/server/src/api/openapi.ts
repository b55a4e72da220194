import { z } from 'zod';
import {
  allocationsQuery, containerListQuery, createContainerSchema, createPoolSchema, createTokenSchema, emptySchema,
  execSchema, imageImportQuery, jobListQuery, logsQuery, stopSchema,
} from './schemas';

interface Operation {
  method: 'get' | 'post' | 'delete';
  path: string;
  summary: string;
  role: 'none' | 'viewer' | 'operator' | 'admin';
  body?: z.ZodType;
  query?: z.ZodObject;
  success: number;
}

/** Every route of /api/v1, with the very schemas its handler validates with. */
export const OPERATIONS: Operation[] = [
  { method: 'get', path: '/healthz', summary: 'Liveness of the API and its dependencies', role: 'none', success: 200 },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics', role: 'viewer', success: 200 },
  { method: 'get', path: '/openapi.json', summary: 'This document', role: 'viewer', success: 200 },
  { method: 'post', path: '/containers', summary: 'Create and launch a container (Idempotency-Key honoured; security.nesting needs an admin token)', role: 'operator', body: createContainerSchema, success: 202 },
  { method: 'get', path: '/containers', summary: 'List containers', role: 'viewer', query: containerListQuery, success: 200 },
  { method: 'get', path: '/containers/{name}', summary: 'One container, with its map lines', role: 'viewer', success: 200 },
  { method: 'post', path: '/containers/{name}/start', summary: 'Start a stopped container', role: 'operator', body: emptySchema, success: 202 },
  { method: 'post', path: '/containers/{name}/stop', summary: 'Stop: SIGTERM, then SIGKILL after timeoutSeconds', role: 'operator', body: stopSchema, success: 202 },
  { method: 'post', path: '/containers/{name}/restart', summary: 'Stop then start', role: 'operator', body: stopSchema, success: 202 },
  { method: 'delete', path: '/containers/{name}', summary: 'Delete: stop, remove storage, release the slice', role: 'operator', success: 202 },
  { method: 'post', path: '/containers/{name}/exec', summary: 'Run a command inside a running container', role: 'operator', body: execSchema, success: 200 },
  { method: 'get', path: '/containers/{name}/logs', summary: 'Tail of the console log', role: 'viewer', query: logsQuery, success: 200 },
  { method: 'get', path: '/jobs', summary: 'Recent lifecycle jobs', role: 'viewer', query: jobListQuery, success: 200 },
  { method: 'get', path: '/jobs/{id}', summary: 'One job', role: 'viewer', success: 200 },
  { method: 'post', path: '/jobs/{id}/retry', summary: 'Retry a failed job', role: 'operator', success: 202 },
  { method: 'get', path: '/pools', summary: 'ID pools with slice counts', role: 'viewer', success: 200 },
  { method: 'post', path: '/pools', summary: 'Create an ID pool', role: 'admin', body: createPoolSchema, success: 201 },
  { method: 'get', path: '/pools/{name}', summary: 'One pool with slice counts', role: 'viewer', success: 200 },
  { method: 'get', path: '/allocations', summary: 'Who holds which host ID range', role: 'viewer', query: allocationsQuery, success: 200 },
  { method: 'get', path: '/images', summary: 'Images', role: 'viewer', success: 200 },
  { method: 'post', path: '/images', summary: 'Import a rootfs tarball (body: tar or tar.gz)', role: 'operator', query: imageImportQuery, success: 201 },
  { method: 'get', path: '/nodes', summary: 'Worker nodes and their heartbeats', role: 'viewer', success: 200 },
  { method: 'get', path: '/whoami', summary: 'The caller: token name and role', role: 'viewer', success: 200 },
  { method: 'get', path: '/tokens', summary: 'API tokens: id, name, role, createdAt, expiresAt, lastUsedAt, revokedAt (never their secrets)', role: 'admin', success: 200 },
  { method: 'post', path: '/tokens', summary: 'Create an API token, optionally expiring; the secret is shown once', role: 'admin', body: createTokenSchema, success: 201 },
  { method: 'delete', path: '/tokens/{id}', summary: 'Revoke a token: refused from the next request on (not the last admin token: 409)', role: 'admin', success: 200 },
];

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: ['INVALID_INPUT', 'UNAUTHORIZED', 'TOKEN_EXPIRED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'PAYLOAD_TOO_LARGE', 'POOL_EXHAUSTED', 'UNAVAILABLE', 'INTERNAL'] },
        message: { type: 'string' },
        details: {},
      },
    },
  },
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** Builds the OpenAPI 3.1 document of /api/v1 from the route table and its zod schemas. */
export function buildOpenApi(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters: unknown[] = [];
    for (const m of op.path.matchAll(/\{(\w+)\}/g)) parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
    if (op.query) {
      const shape = jsonSchema(op.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(shape.properties ?? {})) {
        parameters.push({ name, in: 'query', required: shape.required?.includes(name) ?? false, schema });
      }
    }
    if (op.path === '/containers' && op.method === 'post') {
      parameters.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } });
    }
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      summary: op.summary,
      'x-nagaya-role': op.role,
      ...(op.role === 'none' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(op.body) } } } } : {}),
      ...(op.path === '/images' && op.method === 'post'
        ? { requestBody: { required: true, content: { 'application/x-tar': {}, 'application/gzip': {} } } } : {}),
      responses: {
        [String(op.success)]: { description: 'success' },
        default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'nagaya', version, description: 'Containers with disjoint subuid/subgid slices.' },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: errorSchema },
    },
    paths,
  };
}
