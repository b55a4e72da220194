import { ERROR_CODES } from '@nagaya/contract';
import { projectScopeQuery } from '@nagaya/contract/schemas';
import { z } from 'zod';
import type { Operation } from './operation';

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: ERROR_CODES },
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
export function buildOpenApi(version: string, operations: readonly Operation[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const parameters: unknown[] = [];
    for (const m of op.path.matchAll(/\{(\w+)\}/g)) parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
    // a project-scoped operation also takes ?project= and ?all-projects= (read by register-operations)
    for (const query of [op.scope === 'project' ? projectScopeQuery : undefined, op.query]) {
      if (!query) continue;
      const shape = jsonSchema(query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(shape.properties ?? {})) {
        parameters.push({ name, in: 'query', required: shape.required?.includes(name) ?? false, schema });
      }
    }
    for (const [name, schema] of Object.entries(op.headers ?? {})) {
      parameters.push({ name, in: 'header', required: !schema.safeParse(undefined).success, schema: jsonSchema(schema) });
    }
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      summary: op.summary,
      'x-nagaya-role': op.role,
      'x-nagaya-scope': op.scope,
      ...(op.role === 'none' ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(op.body) } } } } : {}),
      ...(op.path === '/images' && op.method === 'post'
        ? { requestBody: { required: true, content: { 'application/x-tar': {}, 'application/gzip': {} } } }
        : {}),
      ...(op.path === '/containers/{name}/files' && op.method === 'put'
        ? { requestBody: { required: true, content: { 'application/octet-stream': {}, 'application/x-tar': {} } } }
        : {}),
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
