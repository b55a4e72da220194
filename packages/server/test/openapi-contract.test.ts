import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ERRORS } from '@nagaya/contract';
import { AllocatorError } from '@nagaya/allocator';
import { toApiError, httpStatusOf } from '../src/api/http-errors';
import { buildOpenApi } from '../src/api/openapi';
import { OPERATIONS } from '../src/api/operations';
import { NagayaError } from '../src/errors';
import { ApiClient, isProjectScoped } from '../src/cli/api-client';

/** Pure checks of the route table and the error contract: no database, no server. */
describe('the OpenAPI document and the route table', () => {
  const doc = buildOpenApi('test', OPERATIONS) as {
    paths: Record<string, Record<string, { 'x-nagaya-role': string; parameters?: Array<{ name: string; in: string }> }>>;
    components: { schemas: { Error: { properties: { error: { properties: { code: { enum: string[] } } } } } } };
  };

  it('takes its error code enum from the contract', () => {
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toEqual(ERROR_CODES);
  });

  it('documents every operation of the table once, with its role', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m} ${path}`));
    expect(documented.sort()).toEqual(OPERATIONS.map((op) => `${op.method} ${op.path}`).sort());
    for (const op of OPERATIONS) expect(doc.paths[op.path]![op.method]!['x-nagaya-role'], op.path).toBe(op.role);
  });

  it("sends the CLI's ?project= to the project-scoped operations of the table, and to no other", () => {
    for (const op of OPERATIONS) {
      const path = op.path.replace(/\{\w+\}/g, 'x');
      expect(isProjectScoped(path), `${op.method} ${op.path}`).toBe(op.scope === 'project');
    }
    const client = new ApiClient('http://h:1/', 't', { project: 'alpha', allProjects: true });
    expect(client.url('GET', '/containers/web1/logs?tail=10')).toBe(
      'http://h:1/api/v1/containers/web1/logs?tail=10&project=alpha&all-projects=true',
    );
    expect(client.url('POST', '/containers')).toBe('http://h:1/api/v1/containers?project=alpha');
    expect(client.url('GET', '/projects/alpha')).toBe('http://h:1/api/v1/projects/alpha');
    expect(client.url('GET', '/audit?limit=5')).toBe('http://h:1/api/v1/audit?limit=5');
  });

  it('documents ?project= and ?all-projects= on exactly the project-scoped operations', () => {
    for (const op of OPERATIONS) {
      const query = (doc.paths[op.path]![op.method]!.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      expect(query.includes('project') && query.includes('all-projects'), `${op.method} ${op.path}`).toBe(op.scope === 'project');
    }
  });

  it('documents the Idempotency-Key header from the schema the route checks it with', () => {
    const header = doc.paths['/containers']!.post!.parameters!.find((p) => p.in === 'header');
    expect(header?.name).toBe('Idempotency-Key');
  });
});

describe("errors become answers through the contract's table", () => {
  it('answers every code with its status', () => {
    for (const code of ERROR_CODES) expect(httpStatusOf(new NagayaError(code, 'x')), code).toBe(ERRORS[code].status);
  });

  it("maps the allocator's own errors to the same code, keeping message and details", () => {
    const mapped = toApiError(new AllocatorError('POOL_EXHAUSTED', 'pool default is full', { pool: 'default' }));
    expect(mapped).toBeInstanceOf(NagayaError);
    expect([mapped.code, mapped.message, mapped.details]).toEqual(['POOL_EXHAUSTED', 'pool default is full', { pool: 'default' }]);
    expect(httpStatusOf(mapped)).toBe(507);
  });
});
