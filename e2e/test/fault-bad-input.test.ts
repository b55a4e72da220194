import { parse as parseQuery } from 'node:querystring';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, isErrorCode, QUOTA_NAMES } from '@nagaya/contract';
import {
  createContainerSchema,
  createPoolSchema,
  createProjectSchema,
  createRunSchema,
  createTokenSchema,
  createVolumeSchema,
  dnsLabel,
  patchProjectSchema,
} from '@nagaya/contract/schemas';
import { rawTar } from '../../packages/native/test/support/raw-tar';
import { OPERATIONS } from '../../packages/server/src/api/operations';
import { problems, snapshot } from '../support/invariants';
import { ADMIN_TOKEN, eventually, NagayaSystem } from '../support/system';

/**
 * Generated and mutated requests against the real API (a separate `nagaya serve --role api`
 * process): bodies, headers, paths and query strings, from an admin token of every project and
 * from the tokens of one project. No answer may be a 5xx (507 only for a valid create when the
 * pool is full), the API never crashes, every error has the documented shape and its code's
 * status, and no rejected request leaves a row (container, id_lease, api_token, id_pool,
 * project, image, volume, run, job); what was accepted must be valid. A token of one project never learns what
 * another project holds, nor whether a project exists: naming an existing other project and a
 * project that does not exist get the same answer. CI: 10,000 requests; NAGAYA_FAULT_SCALE=full: 50,000.
 */

const FULL = process.env.NAGAYA_FAULT_SCALE === 'full';
const REQUESTS = FULL ? 50_000 : 10_000;
const CONCURRENCY = 16;

// Names of 13 and 14 characters: no generated label (at most 12) can take them.
/** The project whose tokens the fuzzer also uses; it has quotas. */
const ALPHA = 'alpha-project';
/** Another tenant: alpha's tokens must not learn that it, or anything in it, exists. */
const HIDDEN = 'hidden-bravo-x';
/** A project that never exists, of HIDDEN's length: every answer about it must equal the one about HIDDEN. */
const ABSENT = 'absent-bravo-x';
const HIDDEN_BOX = 'hidden-box-x1';
const HIDDEN_IMAGE = 'hidden-image1';
const HIDDEN_KEY = 'hidden-sticky-key';
const HIDDEN_KEY2 = 'hidden-sticky-key-2';
const HIDDEN_TOKEN = 'hidden-admin-x';
/** Project names the fuzzer creates and deletes, so a delete sometimes finds what a create made. */
const FUZZ_PROJECTS = ['fz-1', 'fz-2', 'fz-3'];
const SETUP_PROJECTS = ['default', ALPHA, HIDDEN];

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

type Actor = 'admin' | 'alphaAdmin' | 'alphaOperator' | 'alphaViewer' | 'hiddenAdmin' | 'other';

/** What the tests make before the fuzzer runs; the generators read it when they are sampled. */
const setup = {
  tokens: {} as Record<Exclude<Actor, 'admin' | 'other'>, string>,
  /** Token ids a generated DELETE /tokens/{id} must not revoke (it would lock the fuzzer out). */
  protectedTokenIds: new Set<number>(),
  hiddenTokenId: 0,
  hiddenContainerId: '',
  hiddenJobId: '',
  busyboxTar: Buffer.alloc(0),
};

let sys: NagayaSystem;
beforeAll(async () => {
  sys = await NagayaSystem.start({ slices: 256, nodes: ['node-a'] });
  // node-a has a container network, so bridge-mode creates and their published ports are fuzzed too
  await sys.db.query(`SELECT nagaya_network_ensure('node-a', '10.88.0.0/16', 24, 'nagaya0')`);
  setup.busyboxTar = rawTar([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', body: readFileSync('/bin/busybox'), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/sleep', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/true', type: 'symlink', linkname: 'busybox' },
  ]);
  const admin = sys.admin;
  await admin.post('/projects', {
    name: ALPHA,
    description: 'the fuzzed tenant',
    quotas: { containers: 6, slices: 8, diskBytes: 3 << 20 },
  });
  await admin.post('/projects', { name: HIDDEN, description: 'the other tenant' });
  for (const project of [ALPHA, HIDDEN]) {
    const res = await call(ADMIN_TOKEN, 'POST', `/images?project=${project}&name=busybox`, setup.busyboxTar);
    expect(res.status, res.text).toBe(201);
  }
  const tiny = rawTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/motd', body: 'hidden\n' },
  ]);
  expect((await call(ADMIN_TOKEN, 'POST', `/images?project=${HIDDEN}&name=${HIDDEN_IMAGE}`, tiny)).status).toBe(201);
  const makeToken = async (name: string, role: string, project: string) =>
    admin.post<{ id: number; token: string }>('/tokens', { name, role, project });
  for (const [who, role] of [
    ['alphaAdmin', 'admin'],
    ['alphaOperator', 'operator'],
    ['alphaViewer', 'viewer'],
  ] as const) {
    const t = await makeToken(`alpha-${role}`, role, ALPHA);
    setup.tokens[who] = t.token;
    setup.protectedTokenIds.add(t.id);
  }
  const hidden = await makeToken(HIDDEN_TOKEN, 'admin', HIDDEN);
  setup.tokens.hiddenAdmin = hidden.token;
  setup.hiddenTokenId = hidden.id;
  setup.protectedTokenIds.add(hidden.id);
  for (const t of (await sys.db.query<{ id: string }>('SELECT id FROM api_token')).rows) setup.protectedTokenIds.add(Number(t.id));
  const created = await sys.client(setup.tokens.hiddenAdmin).post<{ container: { id: string }; job: { id: string } }>('/containers', {
    name: HIDDEN_BOX,
    image: 'busybox',
    idmap: { key: HIDDEN_KEY },
  });
  setup.hiddenContainerId = created.container.id;
  setup.hiddenJobId = created.job.id;
  await waitState(setup.tokens.hiddenAdmin, HIDDEN_BOX, 'running');
}, 180_000);
afterAll(async () => {
  await sys?.stop();
});

// ---- talking to the API -------------------------------------------------------------------
interface Answer {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: an answer may have any body; the checks test its shape
  json: any;
}

/** One request to /api/v1 with a token; a Buffer body goes as a tarball, anything else as JSON. */
async function call(token: string | undefined, method: string, path: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let payload: string | Buffer | undefined;
  if (Buffer.isBuffer(body)) {
    headers['content-type'] = 'application/x-tar';
    payload = body;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(`${sys.url}/api/v1${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** Waits until a container is in `state`; fails at once when it failed instead. */
async function waitState(token: string, name: string, state: string): Promise<{ idmap: { uid: Array<{ hostId: number }> } }> {
  const view = await eventually(
    async () => {
      const { json } = await call(token, 'GET', `/containers/${name}`);
      return json?.state === state || json?.state === 'failed' ? json : undefined;
    },
    60_000,
    `${name} to be ${state}`,
    100,
  );
  if (view.state !== state) throw new Error(`${name} is ${view.state}: ${JSON.stringify(view.error)}`);
  return view;
}

/** The documented error shape, and the status the contract gives its code. */
function errorShapeProblem(status: number, json: Answer['json']): string | undefined {
  if (!json?.error || !isErrorCode(json.error.code) || typeof json.error.message !== 'string') return 'error without the documented shape';
  if (ERRORS[json.error.code as keyof typeof ERRORS].status !== status) return `code ${json.error.code} answered with ${status}`;
  return undefined;
}

// ---- generators ---------------------------------------------------------------------------
const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const weird = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '..',
    '.',
    '%',
    '%zz',
    '%00',
    '%2e%2e',
    '%2F',
    '\u0000',
    'a'.repeat(5000),
    '\u{1F600}',
    'NaN',
    '-1',
    '1e309',
    '__proto__',
    'constructor',
  ),
  label,
);

/** A value for ?project= (and for a project's name anywhere): the setup's, then every way a name can be wrong. */
const projectValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(ALPHA, HIDDEN, ABSENT, 'default', ...FUZZ_PROJECTS) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      '..',
      '.',
      '/',
      '%00',
      '%2e%2e',
      '\u0000',
      'default\u0000',
      'ALPHA-PROJECT',
      'Default',
      'DEFAULT',
      'a'.repeat(63),
      'a'.repeat(64),
      'x'.repeat(5000),
      '-a',
      'a-',
      'a_b',
      'a.b',
      'default ',
      ' default',
      'default\n',
      'défault',
      '\u{1F600}',
      'ﬁ',
      'true',
      'null',
      '__proto__',
      'constructor',
      '[]',
      '*',
      '%',
    ),
  },
  { weight: 2, arbitrary: weird },
);
const allProjectsValue = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('true', 'false') },
  { weight: 2, arbitrary: fc.constantFrom('TRUE', 'True', '1', '0', '', 'yes', 'true ', ' true', '%00', 'true\u0000', 'null', '[]') },
  { weight: 1, arbitrary: weird },
);

/** encodeURIComponent that takes lone surrogates too (they become U+FFFD, as a browser sends them). */
const enc = (s: string) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));
/** As sent raw: visible ASCII kept (so %00 and %zz reach the server as written), the rest encoded. */
const rawEnc = (s: string) => s.replace(/[^\x21-\x7e]|[&#=+?]/g, (c) => enc(c));

type QueryPart = [key: string, value: string, raw: boolean];
const queryString = (parts: QueryPart[]) => parts.map(([k, v, raw]) => `${raw ? rawEnc(k) : enc(k)}=${raw ? rawEnc(v) : enc(v)}`).join('&');
const withQuery = (path: string, parts: QueryPart[]) => (parts.length ? `${path}?${queryString(parts)}` : path);

/** ?project= and ?all-projects=: none, one, both, repeated (an array), misspelt. */
const scopeQuery: fc.Arbitrary<QueryPart[]> = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constant('project'), projectValue, fc.boolean()) },
    { weight: 3, arbitrary: fc.tuple(fc.constant('all-projects'), allProjectsValue, fc.boolean()) },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.constantFrom('project[]', 'project[0]', 'Project', 'PROJECT', 'project ', 'all_projects', 'projects'),
        projectValue,
        fc.boolean(),
      ),
    },
  ),
  { maxLength: 3 },
);

const validCreate = fc
  .record(
    {
      name: label,
      image: fc.constantFrom('busybox', 'busybox', 'nosuchimage', HIDDEN_IMAGE),
      command: fc.option(fc.array(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 4 }), { nil: undefined }),
      env: fc.option(fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), fc.string({ maxLength: 20 }), { maxKeys: 3 }), {
        nil: undefined,
      }),
      limits: fc.option(
        fc.record(
          {
            memoryBytes: fc.integer({ min: 4 << 20, max: 1 << 30 }),
            pids: fc.integer({ min: 1, max: 1000 }),
            cpus: fc.constantFrom(0.01, 0.5, 1),
          },
          { requiredKeys: [] },
        ),
        { nil: undefined },
      ),
      idmap: fc.option(
        fc.record(
          {
            isolated: fc.boolean(),
            size: fc.constantFrom(65536, 131072, 65537, 0, -65536),
            key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(HIDDEN_KEY, HIDDEN_KEY2)),
            raw: fc.array(
              fc.record({
                kind: fc.constantFrom('uid', 'gid', 'both', 'x'),
                hostId: fc.integer({ min: -1, max: 2 ** 33 }),
                nsId: fc.integer({ min: -1, max: 2 ** 33 }),
                count: fc.integer({ min: -1, max: 2 ** 33 }),
              }),
              { maxLength: 3 },
            ),
          },
          { requiredKeys: [] },
        ),
        { nil: undefined },
      ),
      network: fc.option(
        fc.record(
          {
            mode: fc.constantFrom('bridge', 'none', 'host'),
            publish: fc.array(
              fc.record(
                {
                  hostPort: fc.constantFrom(0, 1, 80, 8080, 65535, 65536, -1, 80.5),
                  containerPort: fc.constantFrom(1, 80, 65536),
                  protocol: fc.constantFrom('tcp', 'udp', 'sctp'),
                  hostIp: fc.constantFrom('0.0.0.0', '127.0.0.1', '10.0.0.256', '::1', 'localhost', "1.2.3.4'; --"),
                },
                { requiredKeys: ['hostPort', 'containerPort', 'protocol'] },
              ),
              { maxLength: 3 },
            ),
          },
          { requiredKeys: [] },
        ),
        { nil: undefined },
      ),
    },
    { requiredKeys: ['name', 'image'] },
  )
  .map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);

/** A quota's value: fine ones, then negative, fractional, past 2^53, past bigint, not numbers at all. */
const quotaValue = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 64 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>(
      -1,
      -0.5,
      0.5,
      1.5,
      -0,
      2 ** 53 - 1,
      2 ** 53,
      2 ** 63,
      2 ** 64,
      1e308,
      -1e308,
      1e-7,
      5e-324,
      1_000_000,
      1_000_000.5,
      null,
      '10',
      '',
      '1e3',
      true,
      [],
      [1],
      {},
    ),
  },
  { weight: 1, arbitrary: fc.double() }, // NaN and the infinities become null in JSON
);
const quotaName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...QUOTA_NAMES) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('gpus', 'Containers', 'memory_bytes', 'quota_containers', '__proto__', 'constructor', 'toString', ''),
  },
);
const quotas = fc.dictionary(quotaName, quotaValue, { maxKeys: 3 });
const description = fc.oneof(
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'a'.repeat(500),
      'a'.repeat(501),
      '\u{1F600}'.repeat(250),
      '\u{1F600}'.repeat(251),
      'nul\u0000inside',
      'lone \uD800 surrogate',
      '',
      '\\',
      "'; DROP TABLE project; --",
    ),
  },
);
const flag = fc.oneof(fc.boolean(), fc.constantFrom<unknown>('true', 1, 0, null));

const projectCreate = fc
  .record(
    {
      name: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...FUZZ_PROJECTS) }, { weight: 1, arbitrary: projectValue }),
      description,
      quotas,
      rawIdmapAllowed: flag,
    },
    { requiredKeys: ['name'] },
  )
  .map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);
const projectPatch = fc
  .record({ description, quotas, rawIdmapAllowed: flag }, { requiredKeys: [] })
  .map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);
const tokenCreate = fc
  .record(
    {
      name: fc.oneof(
        { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
        { weight: 1, arbitrary: fc.string({ maxLength: 110 }) },
        { weight: 1, arbitrary: fc.constantFrom('nul\u0000name', '', 'lone \uDC00', 'a'.repeat(101)) },
      ),
      role: fc.constantFrom('admin', 'operator', 'operator', 'viewer', 'viewer', 'root', 'Admin'),
      project: fc.oneof(projectValue, fc.constantFrom<unknown>(null, 5, [], [ALPHA], {}, true)),
      expiresInSeconds: fc.oneof(fc.integer({ min: -5, max: 10 * 365 * 86400 + 5 }), fc.constantFrom<unknown>(0.5, 1e308, '60', null)),
    },
    { requiredKeys: ['name', 'role'] },
  )
  .map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);

/** A valid-looking body with one thing wrong (or, now and then, nothing wrong). */
function mutate(base: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<string> {
  return fc.tuple(base, fc.nat(), fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 12 }), fc.nat()).map(([obj, op, value, key, n]) => {
    const keys = Object.keys(obj);
    const o: Record<string, unknown> = { ...obj };
    switch (op % 9) {
      case 0:
        if (keys.length) o[keys[n % keys.length]!] = value;
        break; // a field of the wrong type or value
      case 1:
        if (keys.length) delete o[keys[n % keys.length]!];
        break; // a required field missing
      case 2:
        o[key || 'extra'] = value;
        break; // an unknown field
      case 3:
        return JSON.stringify([o]); // not an object
      case 4: {
        const s = JSON.stringify(o);
        return s.slice(0, n % Math.max(1, s.length));
      } // truncated
      case 5: {
        const s = JSON.stringify(o);
        const i = n % Math.max(1, s.length);
        return s.slice(0, i) + key + s.slice(i);
      } // garbage inserted
      case 6: {
        let deep: unknown = o;
        for (let i = 0; i < 200 + (n % 2000); i++) deep = { a: deep };
        return JSON.stringify(deep);
      } // deep nesting
      case 7:
        return JSON.stringify(value);
      default:
        break; // unchanged: may well be valid
    }
    return JSON.stringify(o);
  });
}

const bodies = fc.oneof(
  { weight: 5, arbitrary: mutate(validCreate) },
  { weight: 1, arbitrary: mutate(tokenCreate) },
  { weight: 1, arbitrary: mutate(projectCreate) },
  { weight: 1, arbitrary: mutate(projectPatch) },
  {
    weight: 1,
    arbitrary: mutate(
      fc.record({
        name: label,
        uid: fc.record({ start: fc.integer({ min: -5, max: 2 ** 32 }), count: fc.integer({ min: -5, max: 2 ** 32 }) }),
        gid: fc.record({ start: fc.integer({ min: -5, max: 2 ** 32 }), count: fc.integer({ min: -5, max: 2 ** 32 }) }),
      }) as fc.Arbitrary<Record<string, unknown>>,
    ),
  },
  {
    weight: 1,
    arbitrary: mutate(
      fc.record(
        {
          command: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
          timeoutMs: fc.integer({ min: -5, max: 10 ** 6 }),
          timeoutSeconds: fc.integer({ min: -5, max: 5000 }),
        },
        { requiredKeys: [] },
      ) as fc.Arbitrary<Record<string, unknown>>,
    ),
  },
  { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      'null',
      '{}',
      '[]',
      '"x"',
      '1',
      'true',
      '{"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{}}}',
      `{"name":"${'a'.repeat(300_000)}"}`,
      '{"name":"fz-1","quotas":{"containers":1e400}}',
      '{"name":"fz-2","quotas":{"containers":9223372036854775808}}',
      '{"name":"fz-3","quotas":{"cpus":-0}}',
      '{"quotas":{"memoryBytes":18446744073709551616}}',
      '{"name":"fz-1","quotas":{"containers":1,"containers":-1}}',
    ),
  },
);

/** A path segment: percent-encoded, or raw with only what cannot be sent encoded. */
const segment = (s: string, encode: boolean) => (encode ? enc(s) : s.replace(/[^\x21-\x7e]/g, (c) => enc(c)).replace(/[?#]/g, ''));

/** A token id of a DELETE /tokens/{id} that would revoke a token the run needs goes to one that does not exist. */
function spareTokens(path: string): string {
  return path.replace(/^(\/api\/v1\/+tokens\/)([^/?]*)/, (whole, prefix: string, id: string) => {
    let decoded = id;
    try {
      decoded = decodeURIComponent(id);
    } catch {}
    return /^[1-9][0-9]{0,17}$/.test(decoded) && setup.protectedTokenIds.has(Number(decoded)) ? `${prefix}999999999` : whole;
  });
}

const pathArb = fc
  .tuple(
    fc.constantFrom(...OPERATIONS),
    weird,
    fc.nat(),
    fc.array(fc.tuple(weird, weird), { maxLength: 3 }),
    fc.boolean(),
    scopeQuery,
    projectValue,
  )
  .map(([op, segmentValue, n, query, encode, scope, projectName]) => {
    const seg = segment(segmentValue, encode);
    const named = op.path.startsWith('/projects/') ? segment(projectName, encode) : n % 5 === 0 ? HIDDEN_BOX : n % 3 === 0 ? 'nobody' : seg;
    const id = n % 4 === 0 ? setup.hiddenJobId : n % 4 === 1 ? String(setup.hiddenTokenId) : seg;
    let path = `/api/v1${op.path.replace('{name}', named).replace('{id}', id)}`;
    if (n % 7 === 1) path += `/${seg}`; // a segment too many
    if (n % 11 === 2) path = path.replace('/api/v1', '/api/v1/'); // a doubled slash
    if (n % 13 === 3) path = `/${seg}`; // no such route
    const parts: QueryPart[] = [...query.map(([k, v]): QueryPart => [k, v, false]), ...(op.scope === 'project' || n % 2 ? scope : [])];
    return { method: op.method.toUpperCase(), path: spareTokens(withQuery(path, parts)) };
  });

/** A small rootfs tarball, or something that is not one. */
const imageBody = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.nat({ max: 256 * 1024 }).map((n) =>
      rawTar([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/blob', body: Buffer.alloc(n, 7) },
      ]),
    ),
  },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)) },
);
/** Any instant of years 0000 to 9999 in ISO 8601, at any offset the schema allows (±23:59), as its UTC text or not. */
const sinceInstant = fc
  .tuple(
    fc.date({ min: new Date('0000-01-02T00:00:00Z'), max: new Date('9999-12-30T00:00:00Z'), noInvalidDate: true }),
    fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
    fc.boolean(),
  )
  .map(([at, offset, utc]) => {
    if (utc) return at.toISOString();
    const local = new Date(at.getTime() + offset * 60_000).toISOString().replace(/Z$/, '');
    const abs = Math.abs(offset);
    return `${local}${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  });
const auditQueryParts: fc.Arbitrary<QueryPart[]> = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.tuple(
        fc.constant('since'),
        fc.oneof(
          { weight: 3, arbitrary: sinceInstant },
          {
            weight: 2,
            arbitrary: fc.constantFrom(
              '0000-01-01T00:00:00Z',
              '0000-01-01T00:00:00+23:59',
              '0001-01-01T00:00:00+23:59',
              '9999-12-31T23:59:59-23:59',
              '9999-12-31T23:59:59.999999999Z',
              '2020-02-29T00:00:00Z',
              '2021-02-29T00:00:00Z',
              '2020-01-01T24:00:00Z',
              '1970-01-01T00:00:00.123456789123Z',
              '2020-01-01T00:00:00',
              '2020-01-01',
              'now',
              'infinity',
              '-infinity',
              'epoch',
              'today',
              'allballs',
            ),
          },
          { weight: 1, arbitrary: weird },
        ),
        fc.boolean(),
      ),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(
        fc.constant('limit'),
        fc.oneof(
          fc.constantFrom('1', '1000', '1001', '0', '-1', '1.5', '1e3', '0x10', ' 5', '', 'NaN', 'Infinity', '9'.repeat(400)),
          weird,
        ),
        fc.boolean(),
      ),
    },
    { weight: 2, arbitrary: fc.tuple(fc.constant('project'), projectValue, fc.boolean()) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('all-projects', 'actor', 'Since'), weird, fc.boolean()) },
  ),
  { maxLength: 3 },
);

/** Mostly one thing wrong, a third of the time as generated (which may well be valid). */
const mostlyMutated = (base: fc.Arbitrary<Record<string, unknown>>) =>
  fc.oneof({ weight: 2, arbitrary: mutate(base) }, { weight: 1, arbitrary: base.map((o) => JSON.stringify(o)) });

/** A volume, at times sized (refused here: no prjquota); under alpha's diskBytes quota an unsized one is refused too. */
const volumeCreate = fc
  .record({ name: label, sizeBytes: fc.integer({ min: 1 << 20, max: 1 << 30 }) }, { requiredKeys: ['name'] })
  .map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>);
/** A run delayed a day, or a schedule of once a year: neither starts during the test unless a mutation drops the delay. */
const runCreate = fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 60 })).map(([scheduled, timeoutSeconds]) => ({
  image: 'busybox',
  command: ['true'],
  timeoutSeconds,
  ...(scheduled ? { schedule: '0 0 1 1 *' } : { delaySeconds: 86_400 }),
}));

/** Requests aimed at what projects added: /projects, /audit, POST /tokens, /images, /volumes and /runs within a scope. */
const projectRequest: fc.Arbitrary<{ method: string; path: string; body?: string | Buffer; tar?: true }> = fc.oneof(
  fc.tuple(mostlyMutated(projectCreate), scopeQuery).map(([body, q]) => ({ method: 'POST', path: withQuery('/api/v1/projects', q), body })),
  fc
    .tuple(projectValue, fc.boolean(), mostlyMutated(projectPatch))
    .map(([name, encode, body]) => ({ method: 'PATCH', path: `/api/v1/projects/${segment(name, encode)}`, body })),
  fc
    .tuple(fc.constantFrom('GET', 'DELETE'), fc.oneof(fc.constantFrom(...FUZZ_PROJECTS), projectValue), fc.boolean())
    .map(([method, name, encode]) => ({ method, path: `/api/v1/projects/${segment(name, encode)}` })),
  auditQueryParts.map((q) => ({ method: 'GET', path: withQuery('/api/v1/audit', q) })),
  fc.tuple(mostlyMutated(tokenCreate), scopeQuery).map(([body, q]) => ({ method: 'POST', path: withQuery('/api/v1/tokens', q), body })),
  fc.tuple(mostlyMutated(volumeCreate), scopeQuery).map(([body, q]) => ({ method: 'POST', path: withQuery('/api/v1/volumes', q), body })),
  fc.tuple(mostlyMutated(runCreate), scopeQuery).map(([body, q]) => ({ method: 'POST', path: withQuery('/api/v1/runs', q), body })),
  fc.tuple(fc.oneof(label, weird), scopeQuery, imageBody, fc.boolean()).map(([name, q, body, raw]) => ({
    method: 'POST',
    path: withQuery('/api/v1/images', [['name', name, raw], ...q]),
    body,
    tar: true as const,
  })),
);

const visible = fc.string({ maxLength: 60 }).map((s) => s.replace(/[^\x20-\x7e]/g, 'x'));
const headersArb = fc.record(
  {
    authorization: fc.oneof(
      { weight: 6, arbitrary: fc.constant(`Bearer ${ADMIN_TOKEN}`) },
      // a project's tokens: read when sampled, after the setup made them
      {
        weight: 4,
        arbitrary: fc
          .constantFrom('alphaAdmin', 'alphaAdmin', 'alphaOperator', 'alphaViewer', 'hiddenAdmin' as const)
          .map((who) => `Bearer ${setup.tokens[who]}`),
      },
      { weight: 1, arbitrary: visible.map((s) => `Bearer ${s}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '',
          'Bearer',
          'Bearer ',
          `bearer ${ADMIN_TOKEN}`,
          `Basic ${Buffer.from('admin:x').toString('base64')}`,
          `Bearer ${ADMIN_TOKEN} extra`,
          `Bearer ${'x'.repeat(600)}`,
          `Bearer  ${ADMIN_TOKEN}`,
        ),
      },
    ),
    'content-type': fc.constantFrom(
      'application/json',
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'application/json; charset=nope',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/merge-patch+json',
      'application/gzip',
      '',
    ),
    'idempotency-key': fc.option(visible, { nil: undefined }),
    'x-request-id': fc.option(visible, { nil: undefined }),
    'content-encoding': fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'bogus'), { nil: undefined }),
  },
  { requiredKeys: ['authorization', 'content-type'] },
);

const requestArb: fc.Arbitrary<Req> = fc
  .tuple(pathArb, headersArb, bodies, fc.nat(), projectRequest, scopeQuery)
  .map(([p, headers, body, n, aimed, scope]) => {
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined && v !== '') h[k] = v;
    switch (n % 6) {
      case 0:
      case 1: // a third aim at the richest route
        return { method: 'POST', path: withQuery('/api/v1/containers', n % 4 < 2 ? scope : []), headers: h, body };
      case 2: // a sixth at what projects added
        if (n % 5 !== 0) h['content-type'] = aimed.tar ? 'application/x-tar' : 'application/json';
        return { method: aimed.method, path: aimed.path, headers: h, ...(aimed.body === undefined ? {} : { body: aimed.body }) };
      default:
        return { ...p, headers: h, ...(p.method === 'GET' || (p.method === 'DELETE' && n % 2 === 0) ? {} : { body }) };
    }
  });

// ---- checking answers -----------------------------------------------------------------------
interface Outcome {
  req: Req;
  status: number;
  text: string;
}

/**
 * How long one request may take, answer included. Streams (events, followed logs) never end and
 * a long poll (/runs/{id}/wait) may hold its answer for minutes: what they sent by then is judged,
 * and a request that has not even answered its status by then is left unjudged.
 */
const SEND_DEADLINE_MS = 3_000;

async function send(req: Req): Promise<Outcome | undefined> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), SEND_DEADLINE_MS);
  try {
    const res = await fetch(`${sys.url}${req.path}`, {
      method: req.method,
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      redirect: 'manual',
      signal: deadline.signal,
    });
    return { req, status: res.status, text: await textUntilAborted(res) };
  } catch (err) {
    if (deadline.signal.aborted) return undefined;
    // fetch itself refuses some inputs (a header it cannot send): nothing reached the server
    if (err instanceof TypeError && !/fetch failed/.test(err.message)) return undefined;
    throw new Error(`${req.method} ${req.path.slice(0, 200)}: ${(err as Error).message}: ${String((err as { cause?: unknown }).cause)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The body as far as it came before the request's deadline aborted it (all of it, usually). */
async function textUntilAborted(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // aborted at the deadline: a stream that was still open
  }
  return text + decoder.decode();
}

/** Who sent a request, from its Authorization header as the server reads it. */
function actorOf(req: Req): Actor {
  const token = /^Bearer\s+(\S{1,512})$/i.exec(req.headers.authorization ?? '')?.[1];
  if (token === ADMIN_TOKEN) return 'admin';
  for (const [who, t] of Object.entries(setup.tokens)) if (t === token) return who as Actor;
  return 'other';
}
const isAlpha = (a: Actor) => a === 'alphaAdmin' || a === 'alphaOperator' || a === 'alphaViewer';

/** What alpha's tokens must never read, unless they wrote it themselves. */
function hiddenSecrets(): string[] {
  return [HIDDEN, HIDDEN_BOX, HIDDEN_IMAGE, HIDDEN_KEY, HIDDEN_TOKEN, setup.hiddenContainerId, setup.hiddenJobId];
}

/** Every string value of a "project" key anywhere in a JSON answer (the OpenAPI document's are schemas, objects). */
function projectsIn(value: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(value)) for (const v of value) projectsIn(v, out);
  else if (value && typeof value === 'object') {
    // the images nagaya makes itself are the default project's and serve every project
    if (isBuiltInImage(value)) return out;
    for (const [k, v] of Object.entries(value)) {
      if (k === 'project' && typeof v === 'string') out.push(v);
      else projectsIn(v, out);
    }
  }
  return out;
}

function isBuiltInImage(value: object): boolean {
  const v = value as { project?: unknown; source?: unknown };
  return v.project === 'default' && v.source === 'busybox-static';
}

const bodyText = (body: Req['body']) => (body === undefined ? '' : Buffer.isBuffer(body) ? `<tar ${body.length} bytes>` : body);
const describeOutcome = ({ req, status, text }: Outcome) =>
  `${req.method} ${req.path.slice(0, 160)} ${JSON.stringify(req.headers).slice(0, 200)} ${bodyText(req.body).slice(0, 200)} -> ${status} ${text.slice(0, 240)}`;

/** ?project= as the server's query parser reads it. */
function queryOf(path: string): Record<string, string | string[] | undefined> {
  const i = path.indexOf('?');
  return i < 0 ? {} : parseQuery(path.slice(i + 1));
}

/** The project an accepted request of `actor` must have acted in. */
function expectedProject(actor: Actor, path: string): string | undefined {
  if (isAlpha(actor)) return ALPHA;
  if (actor === 'hiddenAdmin') return HIDDEN;
  const asked = queryOf(path).project;
  return asked === undefined ? 'default' : typeof asked === 'string' ? asked : undefined;
}

const parseBody = (body: Req['body']) => {
  if (typeof body !== 'string') return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
};

/** What the fuzzer's accepted requests made and changed. */
class Ledger {
  containers = new Set<string>();
  tokens = 0;
  pools = 0;
  images = 0;
  /** Images an accepted DELETE /images/{name} removed. */
  imagesDeleted = 0;
  projectsCreated: string[] = [];
  projectsDeleted: string[] = [];
  projectsPatched = new Set<string>();
  volumes = 0;
  /** Volumes an accepted DELETE /volumes/{name} removed. */
  volumesDeleted = 0;
  /** Runs and run schedules accepted POST /runs made (a repeated idempotency key answers with the same run). */
  runs = new Set<string>();
  schedules = new Set<string>();
  /** Jobs accepted requests answered with (container lifecycle, image pulls). */
  jobs = new Set<string>();
  bad: string[] = [];
  createLog: string[] = [];
  byStatus = new Map<number, number>();
  twins = 0;

  /** Checks one answer and books what it made; returns its JSON. */
  check(out: Outcome): unknown {
    const { req, status, text } = out;
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    const what = describeOutcome(out);
    if (req.path.startsWith('/api/v1/containers') && req.method === 'POST') this.createLog.push(what);
    // biome-ignore lint/suspicious/noExplicitAny: a fuzzed request may get any body back; the checks below test its shape
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const actor = actorOf(req);
    if (isAlpha(actor)) {
      const sent = `${req.path}\n${bodyText(req.body)}`;
      for (const secret of hiddenSecrets()) if (text.includes(secret) && !sent.includes(secret)) this.bad.push(`leaks ${secret}: ${what}`);
      if (status < 300) for (const p of projectsIn(json)) if (p !== ALPHA) this.bad.push(`shows project ${p} to ${actor}: ${what}`);
    }
    if (status >= 500 && status !== 507) this.bad.push(`5xx: ${what}`);
    if (status >= 400) {
      const shape = errorShapeProblem(status, json);
      if (shape) this.bad.push(`${shape}: ${what}`);
      // only a create that was valid in every other way may find the pool full
      if (status === 507 && !createContainerSchema.safeParse(parseBody(req.body)).success)
        this.bad.push(`507 for an invalid body: ${what}`);
      return json;
    }
    // accepted: it must have been a valid request, in the project it was entitled to
    const body = parseBody(req.body);
    const route = req.path
      .split('?')[0]!
      .replace(/\/+$/, '')
      .replace(/^\/api\/v1\/+/, '/api/v1/');
    const project = expectedProject(actor, req.path);
    const fleetAdmin = actor === 'admin';
    if (typeof json?.job?.id === 'string') this.jobs.add(json.job.id);
    if (req.method === 'POST' && route === '/api/v1/volumes' && status === 201) {
      if (!createVolumeSchema.safeParse(body).success) this.bad.push(`accepted an invalid volume: ${what}`);
      if (json.project !== project) this.bad.push(`a volume in ${json.project}, not ${project}: ${what}`);
      this.volumes++;
    }
    if (req.method === 'DELETE' && /^\/api\/v1\/volumes\/[^/]+$/.test(route) && status === 200) this.volumesDeleted++;
    // (200: a run that ended while the POST waited for it, Prefer: wait)
    if (req.method === 'POST' && route === '/api/v1/runs' && (status === 202 || status === 200)) {
      if (!createRunSchema.safeParse(body).success) this.bad.push(`accepted an invalid run: ${what}`);
      if ((json.run ?? json.schedule)?.project !== project) this.bad.push(`a run in another project than ${project}: ${what}`);
      if (json.run) this.runs.add(json.run.id);
      if (json.schedule) this.schedules.add(json.schedule.id);
    }
    if (req.method === 'POST' && route === '/api/v1/containers' && status === 202) {
      if (!createContainerSchema.safeParse(body).success) this.bad.push(`accepted an invalid create: ${what}`);
      if (json.container.project !== project) this.bad.push(`created in ${json.container.project}, not ${project}: ${what}`);
      this.containers.add(`${json.container.project}/${json.container.name}`);
    }
    if (req.method === 'POST' && route === '/api/v1/tokens' && status === 201) {
      const parsed = createTokenSchema.safeParse(body);
      if (!parsed.success) this.bad.push(`accepted an invalid token request: ${what}`);
      if (!fleetAdmin && json.project !== project) this.bad.push(`a token of ${json.project} made by ${actor}: ${what}`);
      if (fleetAdmin && parsed.success && parsed.data.project !== undefined && json.project !== parsed.data.project)
        this.bad.push(`a token of ${json.project} when ${parsed.data.project} was asked: ${what}`);
      if (json.project === null && json.role !== 'admin') this.bad.push(`a ${json.role} token of every project: ${what}`);
      this.tokens++;
    }
    if (req.method === 'POST' && route === '/api/v1/pools' && status === 201) {
      if (!createPoolSchema.safeParse(body).success) this.bad.push(`accepted an invalid pool: ${what}`);
      this.pools++;
    }
    if (req.method === 'POST' && route === '/api/v1/images' && status === 201) {
      if (json.project !== project) this.bad.push(`an image in ${json.project}, not ${project}: ${what}`);
      this.images++;
    }
    if (req.method === 'DELETE' && /^\/api\/v1\/images\/[^/]+$/.test(route) && status === 200) {
      if (/viewer/i.test(actor)) this.bad.push(`${actor} deleted an image: ${what}`);
      this.imagesDeleted++;
    }
    if (route === '/api/v1/projects' && req.method === 'POST' && status === 201) {
      if (!fleetAdmin) this.bad.push(`${actor} created a project: ${what}`);
      if (!createProjectSchema.safeParse(body).success) this.bad.push(`accepted an invalid project: ${what}`);
      this.projectsCreated.push(json.name);
    }
    const named = /^\/api\/v1\/projects\/([^/]+)$/.exec(route)?.[1];
    if (named !== undefined && (req.method === 'PATCH' || req.method === 'DELETE') && status === 200) {
      const name = decodeURIComponent(named);
      if (!fleetAdmin) this.bad.push(`${actor} changed project ${name}: ${what}`);
      if (!dnsLabel.safeParse(name).success) this.bad.push(`changed a project by an invalid name: ${what}`);
      if (req.method === 'PATCH') {
        if (!patchProjectSchema.safeParse(body).success) this.bad.push(`accepted an invalid project change: ${what}`);
        this.projectsPatched.add(name);
      } else this.projectsDeleted.push(name);
    }
    return json;
  }
}

/**
 * The same request with HIDDEN (a project that exists) swapped for ABSENT (one that does not):
 * for a token of alpha both must get the same answer, or the answer tells that HIDDEN exists.
 */
function twinOf(req: Req): Req | undefined {
  if (!isAlpha(actorOf(req))) return undefined;
  const inBody = typeof req.body === 'string' && req.body.includes(HIDDEN);
  if (!req.path.includes(HIDDEN) && !inBody) return undefined;
  return {
    ...req,
    path: req.path.replaceAll(HIDDEN, ABSENT),
    ...(typeof req.body === 'string' ? { body: req.body.replaceAll(HIDDEN, ABSENT) } : {}),
  };
}
const neutral = (text: string) => text.replaceAll(HIDDEN, '<project>').replaceAll(ABSENT, '<project>');

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['container', 'id_lease', 'api_token', 'id_pool', 'project', 'image', 'volume', 'run', 'job'])
    out[t] = await sys.count(t);
  return out;
}

async function projectRows(): Promise<Map<string, string>> {
  const { rows } = await sys.db.query<{ name: string }>('SELECT * FROM project ORDER BY name');
  return new Map(rows.map((r) => [r.name, JSON.stringify(r)]));
}

// ---- the tests ------------------------------------------------------------------------------
describe('bad input', () => {
  it('a token of one project gets the same answer for an existing other project as for none, and nothing of it', async () => {
    const alpha = { admin: setup.tokens.alphaAdmin, operator: setup.tokens.alphaOperator, viewer: setup.tokens.alphaViewer };
    const bodyFor: Record<string, unknown> = {
      'post /containers': { name: 'probe-x', image: 'busybox' },
      'post /containers/{name}/start': {},
      'post /containers/{name}/stop': { timeoutSeconds: 1 },
      'post /containers/{name}/restart': {},
      'post /containers/{name}/exec': { command: ['true'] },
      'post /tokens': { name: 'probe', role: 'viewer' },
      'post /jobs/{id}/retry': {},
    };
    const tokensBefore = await sys.count('api_token');
    const containersBefore = await sys.count('container');
    const differences: string[] = [];
    /**
     * Sends `make(HIDDEN)` and `make(ABSENT)` (with their bodies); both must be refused alike, once
     * what differs in the requests (`swapped`: the other project's thing, and its stand-in) is blanked.
     */
    const compare = async (
      who: string,
      token: string,
      method: string,
      make: (p: string) => string,
      { body, swapped = [HIDDEN, ABSENT] }: { body?: (p: string) => unknown; swapped?: [string, string] } = {},
    ) => {
      const [a, b] = [await call(token, method, make(HIDDEN), body?.(HIDDEN)), await call(token, method, make(ABSENT), body?.(ABSENT))];
      const what = `${who} ${method} ${make(HIDDEN)} ${JSON.stringify(body?.(HIDDEN)) ?? ''}`;
      if (a.status < 400) differences.push(`${what}: accepted (${a.status} ${a.text.slice(0, 200)})`);
      const blank = (text: string, s: string) => neutral(text).replaceAll(s, '<x>');
      if (a.status !== b.status || blank(a.text, swapped[0]) !== blank(b.text, swapped[1]))
        differences.push(`${what}: ${a.status} ${a.text.slice(0, 200)} but for the absent one: ${b.status} ${b.text.slice(0, 200)}`);
      const shape = errorShapeProblem(a.status, a.json);
      if (shape) differences.push(`${what}: ${shape}`);
      const sent = `${make(HIDDEN)} ${JSON.stringify(body?.(HIDDEN))}`;
      for (const secret of hiddenSecrets())
        if (a.text.includes(secret) && !sent.includes(secret)) differences.push(`${what}: shows ${secret}`);
    };

    // every project-scoped route, with ?project= naming the other project, alone and with all-projects
    const scoped = OPERATIONS.filter((op) => op.scope === 'project');
    expect(scoped.length).toBeGreaterThanOrEqual(15);
    for (const op of scoped) {
      const path = op.path
        .replace('{name}', HIDDEN_BOX)
        .replace('{id}', op.path.startsWith('/jobs') ? setup.hiddenJobId : String(setup.hiddenTokenId));
      const extra = op.path === '/images' && op.method === 'post' ? 'name=probe&' : '';
      const body = op.method === 'get' || op.method === 'delete' ? undefined : (bodyFor[`${op.method} ${op.path}`] ?? {});
      for (const [who, token] of Object.entries(alpha))
        for (const scope of ['project=%s', 'project=%s&all-projects=true', 'all-projects=false&project=%s', 'project=%s&project=%s']) {
          await compare(who, token, op.method.toUpperCase(), (p) => `${path}?${extra}${scope.replaceAll('%s', p)}`, {
            ...(body ? { body: () => body } : {}),
          });
        }
    }
    // a single ?project= naming the other project is NOT_FOUND once the role allows the route
    const res = await call(alpha.viewer, 'GET', `/containers?project=${HIDDEN}`);
    expect(res.status).toBe(404);
    expect(res.json.error).toMatchObject({ code: 'NOT_FOUND' });

    // its things by name and id, from alpha's own scope
    for (const [who, token] of Object.entries(alpha)) {
      await compare(who, token, 'GET', (p) => `/projects/${p}`);
      await compare(who, token, 'PATCH', (p) => `/projects/${p}`, { body: () => ({ description: 'x' }) });
      await compare(who, token, 'DELETE', (p) => `/projects/${p}`);
      await compare(who, token, 'GET', (p) => `/audit?project=${p}`);
      await compare(who, token, 'POST', () => '/tokens', { body: (p) => ({ name: 'probe', role: 'viewer', project: p }) });
      await compare(who, token, 'POST', () => '/tokens', {
        body: (p) => ({ name: 'probe', role: 'admin', project: p, expiresInSeconds: 60 }),
      });
      /** The other project's `thing` for HIDDEN, `stand-in` (which does not exist) for ABSENT. */
      const pick = (thing: string | number, standIn: string | number) => (p: string) => String(p === HIDDEN ? thing : standIn);
      const box = pick(HIDDEN_BOX, 'absent-box-x1');
      const boxes: [string, string] = [HIDDEN_BOX, 'absent-box-x1'];
      for (const action of ['', '/logs']) await compare(who, token, 'GET', (p) => `/containers/${box(p)}${action}`, { swapped: boxes });
      for (const action of ['start', 'stop', 'restart'])
        await compare(who, token, 'POST', (p) => `/containers/${box(p)}/${action}`, { body: () => ({}), swapped: boxes });
      await compare(who, token, 'POST', (p) => `/containers/${box(p)}/exec`, { body: () => ({ command: ['true'] }), swapped: boxes });
      await compare(who, token, 'DELETE', (p) => `/containers/${box(p)}?force=1`, { swapped: boxes });
      await compare(who, token, 'GET', (p) => `/jobs?container=${box(p)}`, { swapped: boxes });
      const otherJob = setup.hiddenJobId.replace(/[0-9a-f](?=[^0-9a-f]*$)/, (c) => (c === '0' ? '1' : '0'));
      const jobs: [string, string] = [setup.hiddenJobId, otherJob];
      await compare(who, token, 'GET', (p) => `/jobs/${pick(...jobs)(p)}`, { swapped: jobs });
      await compare(who, token, 'POST', (p) => `/jobs/${pick(...jobs)(p)}/retry`, { body: () => ({}), swapped: jobs });
      const ids: [string, string] = [String(setup.hiddenTokenId), '999999999'];
      await compare(who, token, 'DELETE', (p) => `/tokens/${pick(...ids)(p)}`, { swapped: ids });
      const images: [string, string] = [HIDDEN_IMAGE, 'absent-image1'];
      await compare(who, token, 'POST', () => '/containers', {
        body: (p) => ({ name: 'probe-x', image: pick(...images)(p) }),
        swapped: images,
      });
    }
    expect(differences).toEqual([]);
    expect(await sys.count('api_token')).toBe(tokensBefore);
    expect(await sys.count('container')).toBe(containersBefore);

    // what alpha lists is alpha's alone
    const mine = await call(alpha.viewer, 'GET', '/projects');
    expect(mine.json.projects.map((p: { name: string }) => p.name)).toEqual([ALPHA]);
    for (const list of ['/containers', '/images', '/jobs', '/allocations', '/allocations?history=true']) {
      const r = await call(alpha.admin, 'GET', list);
      expect(r.status, list).toBe(200);
      for (const secret of hiddenSecrets()) expect(r.text, `${list} shows ${secret}`).not.toContain(secret);
    }
    expect((await call(alpha.admin, 'GET', '/tokens')).text).not.toContain(HIDDEN);

    // nor does the fleet's /metrics name what the other project's requests were about
    const hiddenAdmin = setup.tokens.hiddenAdmin;
    expect((await call(hiddenAdmin, 'POST', `/containers/${HIDDEN_BOX}/exec`, '{"command":')).status).toBe(400);
    expect((await call(hiddenAdmin, 'PATCH', `/projects/${HIDDEN}`, '{"description":')).status).toBe(400);
    expect((await call(undefined, 'GET', `/containers/${HIDDEN_BOX}?project=${HIDDEN}`)).status).toBe(401);
    const metrics = await call(alpha.viewer, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    for (const secret of hiddenSecrets())
      expect(
        metrics.text.split('\n').filter((l) => l.includes(secret)),
        `/metrics shows ${secret}`,
      ).toEqual([]);
  }, 120_000);

  it('a sticky idmap key of another project neither tells that it is in use nor hands over its host IDs', async () => {
    const alphaOp = setup.tokens.alphaOperator;
    const hiddenUid = (await waitState(setup.tokens.hiddenAdmin, HIDDEN_BOX, 'running')).idmap.uid[0]!.hostId;
    // the other project's container holds HIDDEN_KEY now: alpha's use of the same key must launch as any other
    expect((await call(alphaOp, 'POST', '/containers', { name: 'alpha-keyed', image: 'busybox', idmap: { key: HIDDEN_KEY } })).status).toBe(
      202,
    );
    const keyed = await waitState(alphaOp, 'alpha-keyed', 'running');
    expect(keyed.idmap.uid[0]!.hostId).not.toBe(hiddenUid);
    // a key the other project used and let go keeps its host IDs for that project, not for alpha
    const hiddenAdmin = setup.tokens.hiddenAdmin;
    expect(
      (await call(hiddenAdmin, 'POST', '/containers', { name: 'hidden-keyed', image: 'busybox', idmap: { key: HIDDEN_KEY2 } })).status,
    ).toBe(202);
    const released = (await waitState(hiddenAdmin, 'hidden-keyed', 'running')).idmap.uid[0]!.hostId;
    expect((await call(hiddenAdmin, 'DELETE', '/containers/hidden-keyed?force=1')).status).toBe(202);
    await eventually(async () => ((await call(hiddenAdmin, 'GET', '/containers/hidden-keyed')).status === 404 ? true : undefined), 60_000);
    expect(
      (await call(alphaOp, 'POST', '/containers', { name: 'alpha-keyed2', image: 'busybox', idmap: { key: HIDDEN_KEY2 } })).status,
    ).toBe(202);
    const second = await waitState(alphaOp, 'alpha-keyed2', 'running');
    expect(second.idmap.uid[0]!.hostId).not.toBe(released);
    for (const name of ['alpha-keyed', 'alpha-keyed2'])
      expect((await call(alphaOp, 'DELETE', `/containers/${name}?force=1`)).status).toBe(202);
    await eventually(async () => ((await call(alphaOp, 'GET', '/containers')).json.containers.length === 0 ? true : undefined), 60_000);
  }, 180_000);

  it('?project= and ?all-projects= that cannot be are refused with INVALID_INPUT on every project-scoped route, before anything is done', async () => {
    const before = await counts();
    const cases: Array<[query: string, code: string]> = [
      ['project=', 'INVALID_INPUT'],
      [`project=${ALPHA}&project=${ALPHA}`, 'INVALID_INPUT'],
      [`project=${ALPHA}&project=default`, 'INVALID_INPUT'],
      ['project=..', 'INVALID_INPUT'],
      ['project=.', 'INVALID_INPUT'],
      ['project=%00', 'INVALID_INPUT'],
      ['project=default%00', 'INVALID_INPUT'],
      ['project=%2e%2e', 'INVALID_INPUT'],
      ['project=%zz', 'INVALID_INPUT'],
      ['project=DEFAULT', 'INVALID_INPUT'],
      ['project=Alpha-Project', 'INVALID_INPUT'],
      [`project=${'a'.repeat(64)}`, 'INVALID_INPUT'],
      [`project=${'a'.repeat(10_000)}`, 'INVALID_INPUT'],
      [`project=${enc('défault')}`, 'INVALID_INPUT'],
      [`project=${enc('\u{1F600}')}`, 'INVALID_INPUT'],
      ['project=default+', 'INVALID_INPUT'],
      ['project=-a', 'INVALID_INPUT'],
      ['all-projects=', 'INVALID_INPUT'],
      ['all-projects=TRUE', 'INVALID_INPUT'],
      ['all-projects=1', 'INVALID_INPUT'],
      ['all-projects=true&all-projects=true', 'INVALID_INPUT'],
      [`project=${ALPHA}&all-projects=true`, 'INVALID_INPUT'],
      [`project=${ABSENT}`, 'NOT_FOUND'],
      [`project=${'a'.repeat(63)}`, 'NOT_FOUND'],
    ];
    const wrong: string[] = [];
    for (const op of OPERATIONS.filter((o) => o.scope === 'project')) {
      const path = op.path.replace('{name}', 'nobody').replace('{id}', '1');
      const extra = op.path === '/images' && op.method === 'post' ? 'name=probe&' : '';
      const body =
        op.method === 'get' || op.method === 'delete' ? undefined : op.path === '/containers' ? { name: 'p1', image: 'busybox' } : {};
      for (const [query, code] of cases) {
        const res = await call(ADMIN_TOKEN, op.method.toUpperCase(), `${path}?${extra}${query}`, body);
        if (res.json?.error?.code !== code || errorShapeProblem(res.status, res.json))
          wrong.push(`${op.method} ${path}?${query.slice(0, 80)}: ${res.status} ${res.text.slice(0, 160)} (expected ${code})`);
      }
    }
    expect(wrong).toEqual([]);
    expect(await counts()).toEqual(before);
  }, 120_000);

  it('quotas that cannot be (negative, fractional, past 2^53, not numbers, unknown) are refused and change nothing', async () => {
    const intQuotas = QUOTA_NAMES.filter((q) => q !== 'cpus');
    const refusedEverywhere: Array<[string, unknown]> = [
      ['-1', -1],
      ['-0.5', -0.5],
      ['-1e308', -1e308],
      ['2^53', 2 ** 53],
      ['2^63', 2 ** 63],
      ['2^64', 2 ** 64],
      ['1e308', 1e308],
      ['"10"', '10'],
      ['""', ''],
      ['true', true],
      ['[1]', [1]],
      ['{}', {}],
    ];
    /** Raw JSON text where JSON.stringify cannot write it. */
    const rawRefused = ['1e400', '-1e400', '9223372036854775808', '18446744073709551616', '"NaN"', '0x10'];
    const before = await counts();
    const alphaRow = (await projectRows()).get(ALPHA);
    const wrong: string[] = [];
    const expectRefused = async (what: string, method: string, path: string, body: unknown, code = 'INVALID_INPUT') => {
      const res = await call(ADMIN_TOKEN, method, path, body);
      if (res.status !== ERRORS[code as keyof typeof ERRORS].status || res.json?.error?.code !== code)
        wrong.push(
          `${what}: ${method} ${path} ${typeof body === 'string' ? body : JSON.stringify(body)} -> ${res.status} ${res.text.slice(0, 160)}`,
        );
    };
    for (const q of QUOTA_NAMES) {
      const values: Array<[string, unknown]> = [
        ...refusedEverywhere,
        ...(q === 'cpus'
          ? ([
              ['1000000.5', 1_000_000.5],
              ['1e7', 1e7],
            ] as Array<[string, unknown]>)
          : []),
        ...(intQuotas.includes(q)
          ? ([
              ['0.5', 0.5],
              ['1.5', 1.5],
              ['1e-7', 1e-7],
            ] as Array<[string, unknown]>)
          : []),
      ];
      for (const [what, v] of values) {
        await expectRefused(`create ${q}=${what}`, 'POST', '/projects', { name: 'quota-probe', quotas: { [q]: v } });
        await expectRefused(`patch ${q}=${what}`, 'PATCH', `/projects/${ALPHA}`, { quotas: { [q]: v } });
      }
      for (const raw of rawRefused) {
        await expectRefused(`create ${q}=${raw}`, 'POST', '/projects', `{"name":"quota-probe","quotas":{"${q}":${raw}}}`);
        await expectRefused(`patch ${q}=${raw}`, 'PATCH', `/projects/${ALPHA}`, `{"quotas":{"${q}":${raw}}}`);
      }
      // null removes a quota in a change, and is no quota at all in a create
      await expectRefused(`create ${q}=null`, 'POST', '/projects', { name: 'quota-probe', quotas: { [q]: null } });
    }
    for (const unknown of [
      'gpus',
      'Containers',
      'memory_bytes',
      'quota_containers',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      '',
    ]) {
      await expectRefused(
        `create unknown ${unknown}`,
        'POST',
        '/projects',
        `{"name":"quota-probe","quotas":{${JSON.stringify(unknown)}:1}}`,
      );
      await expectRefused(`patch unknown ${unknown}`, 'PATCH', `/projects/${ALPHA}`, `{"quotas":{${JSON.stringify(unknown)}:1}}`);
    }
    for (const quotas of [null, [], 'x', 5, true, [{ containers: 1 }]]) {
      await expectRefused(`create quotas=${JSON.stringify(quotas)}`, 'POST', '/projects', { name: 'quota-probe', quotas });
      await expectRefused(`patch quotas=${JSON.stringify(quotas)}`, 'PATCH', `/projects/${ALPHA}`, { quotas });
    }
    // the rest of a project: its name, description and rawIdmapAllowed
    for (const name of ['', 'UPPER', 'a'.repeat(64), '..', 'a_b', '-a', 'a-', 'défault', 'nul\u0000', 5, null, ['quota-probe']])
      await expectRefused(`name ${JSON.stringify(name)}`, 'POST', '/projects', { name });
    for (const desc of ['a'.repeat(501), '\u{1F600}'.repeat(501), 'nul\u0000inside', 5, null, ['x']]) {
      await expectRefused(`description ${JSON.stringify(desc).slice(0, 20)}`, 'POST', '/projects', {
        name: 'quota-probe',
        description: desc,
      });
      await expectRefused(`description ${JSON.stringify(desc).slice(0, 20)}`, 'PATCH', `/projects/${ALPHA}`, { description: desc });
    }
    for (const raw of ['true', 1, null, {}]) {
      await expectRefused(`rawIdmapAllowed ${JSON.stringify(raw)}`, 'POST', '/projects', { name: 'quota-probe', rawIdmapAllowed: raw });
      await expectRefused(`rawIdmapAllowed ${JSON.stringify(raw)}`, 'PATCH', `/projects/${ALPHA}`, { rawIdmapAllowed: raw });
    }
    await expectRefused('existing name', 'POST', '/projects', { name: ALPHA }, 'CONFLICT');
    await expectRefused('the default project', 'POST', '/projects', { name: 'default' }, 'CONFLICT');
    await expectRefused('patch of none', 'PATCH', `/projects/${ABSENT}`, { quotas: { containers: 1 } }, 'NOT_FOUND');
    await expectRefused('patch of an invalid name', 'PATCH', '/projects/UPPER', { quotas: { containers: 1 } });
    await expectRefused('delete of none', 'DELETE', `/projects/${ABSENT}`, undefined, 'NOT_FOUND');
    await expectRefused('delete of default', 'DELETE', '/projects/default', undefined, 'CONFLICT');
    await expectRefused('delete of a project with things', 'DELETE', `/projects/${HIDDEN}`, undefined, 'CONFLICT');
    expect(wrong).toEqual([]);
    expect(await counts()).toEqual(before);
    expect((await projectRows()).get(ALPHA)).toBe(alphaRow);

    // the edges that are allowed are kept exactly
    const edge = {
      containers: 0,
      slices: 2 ** 53 - 1,
      memoryBytes: 2 ** 53 - 1,
      cpus: 1_000_000,
      processes: 1,
      diskBytes: 2 ** 53 - 1,
      networkInterfaces: 0,
    };
    const made = await call(ADMIN_TOKEN, 'POST', '/projects', { name: 'quota-edge', quotas: edge, description: '\u{1F600}'.repeat(250) });
    expect(made.status, made.text).toBe(201);
    for (const q of QUOTA_NAMES) expect(made.json.quotas[q], q).toEqual({ limit: edge[q], used: 0 });
    const cpus = await call(ADMIN_TOKEN, 'PATCH', '/projects/quota-edge', { quotas: { cpus: 5e-324, containers: null, slices: -0 } });
    expect(cpus.status, cpus.text).toBe(200);
    expect(cpus.json.quotas.containers.limit).toBeNull();
    expect(cpus.json.quotas.slices.limit).toBe(0);
    expect(cpus.json.quotas.cpus.limit).toBeGreaterThanOrEqual(0);
    expect(await call(ADMIN_TOKEN, 'DELETE', '/projects/quota-edge')).toMatchObject({ status: 200 });
    expect(await counts()).toEqual(before);

    // at containers=0 every create is QUOTA_EXCEEDED, with a memoryBytes quota one without the limit is
    // INVALID_INPUT; neither keeps anything (alpha's quotas are put back as they were)
    const alphaOp = setup.tokens.alphaOperator;
    expect((await call(ADMIN_TOKEN, 'PATCH', `/projects/${ALPHA}`, { quotas: { containers: 0 } })).status).toBe(200);
    const over = await call(alphaOp, 'POST', '/containers', { name: 'over', image: 'busybox' });
    expect(over.status, over.text).toBe(403);
    expect(over.json.error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { project: ALPHA, quota: 'containers', limit: 0, requested: 1 },
    });
    expect((await call(ADMIN_TOKEN, 'PATCH', `/projects/${ALPHA}`, { quotas: { containers: 6, memoryBytes: 2 ** 30 } })).status).toBe(200);
    const unlimited = await call(alphaOp, 'POST', '/containers', { name: 'over', image: 'busybox' });
    expect(unlimited.json?.error?.code, unlimited.text).toBe('INVALID_INPUT');
    const tooBig = await call(alphaOp, 'POST', '/containers', { name: 'over', image: 'busybox', limits: { memoryBytes: 2 ** 31 } });
    expect(tooBig.json?.error?.code, tooBig.text).toBe('QUOTA_EXCEEDED');
    expect((await call(ADMIN_TOKEN, 'PATCH', `/projects/${ALPHA}`, { quotas: { memoryBytes: null } })).status).toBe(200);
    expect((await projectRows()).get(ALPHA)).toBe(alphaRow);
    expect(await counts()).toEqual(before);
  }, 120_000);

  it('POST /tokens with a project that cannot be, or is not the caller’s, is refused and makes no token', async () => {
    const before = await sys.count('api_token');
    const wrong: string[] = [];
    const attempts: Array<[token: string, body: Record<string, unknown>, code: string]> = [];
    for (const project of ['', 'UPPER', 'a'.repeat(64), '..', '%00', 'nul\u0000', 'défault', 5, [], [ALPHA], {}, true, 'default ', 'a_b'])
      attempts.push([ADMIN_TOKEN, { name: 'probe', role: 'viewer', project }, 'INVALID_INPUT']);
    attempts.push([ADMIN_TOKEN, { name: 'probe', role: 'viewer', project: ABSENT }, 'NOT_FOUND']);
    attempts.push([ADMIN_TOKEN, { name: 'probe', role: 'operator', project: null }, 'INVALID_INPUT']);
    attempts.push([setup.tokens.alphaAdmin, { name: 'probe', role: 'admin', project: null }, 'FORBIDDEN']);
    attempts.push([setup.tokens.alphaAdmin, { name: 'probe', role: 'viewer', project: HIDDEN }, 'NOT_FOUND']);
    attempts.push([setup.tokens.alphaAdmin, { name: 'probe', role: 'viewer', project: 'default' }, 'NOT_FOUND']);
    attempts.push([setup.tokens.alphaOperator, { name: 'probe', role: 'viewer', project: ALPHA }, 'FORBIDDEN']);
    for (const name of ['', 'a'.repeat(101), 'nul\u0000name', 5, null])
      attempts.push([ADMIN_TOKEN, { name, role: 'viewer', project: ALPHA }, 'INVALID_INPUT']);
    for (const expiresInSeconds of [0, -1, 0.5, 1e308, '60', null, 10 * 365 * 86400 + 1])
      attempts.push([ADMIN_TOKEN, { name: 'probe', role: 'viewer', project: ALPHA, expiresInSeconds }, 'INVALID_INPUT']);
    for (const [token, body, code] of attempts) {
      const res = await call(token, 'POST', '/tokens', body);
      if (res.json?.error?.code !== code || errorShapeProblem(res.status, res.json))
        wrong.push(`${JSON.stringify(body)}: ${res.status} ${res.text.slice(0, 160)} (expected ${code})`);
    }
    expect(wrong).toEqual([]);
    expect(await sys.count('api_token')).toBe(before);
  });

  it('GET /audit with since, limit and project that cannot be is refused; never a 5xx', async () => {
    const wrong: string[] = [];
    const queries: Array<[string, number]> = [
      ['since=2020-01-01T00:00:00Z', 200],
      ['since=2020-02-29T00:00:00%2B05:30', 200],
      ['since=0001-01-01T00:00:00%2B23:59', 200],
      ['since=9999-12-31T23:59:59.999999999Z', 200],
      ['since=1970-01-01T00:00:00.123456789123Z', 200],
      ['since=0000-01-01T00:00:00Z', 0],
      ['since=0000-01-01T00:00:00%2B23:59', 0],
      ['since=2021-02-29T00:00:00Z', 400],
      ['since=2020-01-01T24:00:00Z', 400],
      ['since=2020-01-01', 400],
      ['since=2020-01-01T00:00:00', 400],
      ['since=now', 400],
      ['since=infinity', 400],
      ['since=epoch', 400],
      ['since=', 400],
      ['since=%00', 400],
      ['since=2020-01-01T00:00:00Z&since=2020-01-01T00:00:00Z', 400],
      ['limit=1', 200],
      ['limit=1000', 200],
      ['limit=1001', 400],
      ['limit=0', 400],
      ['limit=-1', 400],
      ['limit=1.5', 400],
      ['limit=NaN', 400],
      ['limit=Infinity', 400],
      [`limit=${'9'.repeat(400)}`, 400],
      ['limit=1&limit=2', 400],
      ['project=default', 200],
      [`project=${ABSENT}`, 200],
      ['project=', 400],
      ['project=UPPER', 400],
      [`project=${'a'.repeat(64)}`, 400],
      ['project=a&project=b', 400],
      ['project=..', 400],
      ['project=%00', 400],
      ['all-projects=true', 400],
      ['actor=admin', 400],
    ];
    for (const [query, expected] of queries) {
      const res = await call(ADMIN_TOKEN, 'GET', `/audit?${query}`);
      const ok = expected === 0 ? res.status === 200 || res.status === 400 : res.status === expected;
      if (
        !ok ||
        res.status >= 500 ||
        (res.status >= 400 && (res.json?.error?.code !== 'INVALID_INPUT' || errorShapeProblem(res.status, res.json)))
      )
        wrong.push(`/audit?${query.slice(0, 80)}: ${res.status} ${res.text.slice(0, 160)}`);
    }
    // the other project's trail is not the business of a project's admin
    for (const query of ['', `project=${HIDDEN}`, `project=${ABSENT}`, `project=${ALPHA}`]) {
      const res = await call(setup.tokens.alphaAdmin, 'GET', `/audit?${query}`);
      if (res.status !== 403 || res.text.includes(HIDDEN_BOX)) wrong.push(`alpha /audit?${query}: ${res.status} ${res.text.slice(0, 160)}`);
    }
    expect(wrong).toEqual([]);
  });

  it(
    `${REQUESTS} generated and mutated requests: no 5xx, no crash, no leak across projects, nothing created by a rejected request`,
    async () => {
      const seed = Number(process.env.NAGAYA_FAULT_SEED ?? Date.now() % 1_000_000);
      console.log(`[fault-bad-input] seed ${seed} (NAGAYA_FAULT_SEED=${seed} replays this run)`);
      const requests = fc.sample(requestArb, { numRuns: REQUESTS, seed });
      const before = await counts();
      const rowsBefore = await projectRows();
      const { rows: containersBefore } = await sys.db.query<{ key: string }>("SELECT project || '/' || name AS key FROM container");
      const runsBefore = (await sys.db.query<{ id: string }>('SELECT id::text AS id FROM run')).rows.map((r) => r.id);
      const jobsBefore = (await sys.db.query<{ id: string }>('SELECT id FROM job')).rows.map((r) => r.id);
      const ledger = new Ledger();
      let sent = 0;
      let next = 0;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < requests.length) {
            const out = await send(requests[next++]!);
            if (!out) continue;
            sent++;
            ledger.check(out);
            const twinReq = twinOf(out.req);
            if (!twinReq) continue;
            const twin = await send(twinReq);
            if (!twin) continue;
            ledger.twins++;
            ledger.check(twin);
            if (twin.status !== out.status || (out.status >= 400 && neutral(twin.text) !== neutral(out.text)))
              ledger.bad.push(`tells ${HIDDEN} from ${ABSENT}: ${describeOutcome(out)}\n  but: ${describeOutcome(twin)}`);
          }
        }),
      );
      const seconds = (Date.now() - started) / 1000;
      // a few of each kind (5xx, leak, shape, accepted...), so one noisy kind does not hide another
      const kinds = new Map<string, string[]>();
      for (const b of ledger.bad) {
        const kind = b.slice(0, b.indexOf(':'));
        kinds.set(kind, [...(kinds.get(kind) ?? []), b]);
      }
      expect([...kinds.values()].flatMap((all) => [...all.slice(0, 2), ...(all.length > 2 ? [`(${all.length - 2} more)`] : [])])).toEqual(
        [],
      );
      expect(sent).toBeGreaterThanOrEqual(REQUESTS * 0.95);
      expect(sys.api.running).toBe(true);
      expect((await fetch(`${sys.url}/healthz`)).status).toBe(200);

      const after = await counts();
      // containers: only those an accepted request made (or that were there), and the attempts of accepted runs
      const known = [...containersBefore.map((r) => r.key), ...ledger.containers];
      const { rows: extra } = await sys.db.query<{ project: string; name: string }>(
        `SELECT project, name FROM container WHERE NOT (project || '/' || name = ANY($1))
            AND NOT (kind = 'run' AND id IN (SELECT container_id FROM run WHERE id::text = ANY($2) OR schedule_id = ANY($3)))`,
        [known, [...ledger.runs], [...ledger.schedules]],
      );
      const traces = extra.map((r) =>
        ledger.createLog
          .filter((l) => l.includes(`"name":"${r.name}"`))
          .slice(0, 5)
          .join('\n'),
      );
      expect(
        extra.map((r) => `${r.project}/${r.name}`),
        `rows no accepted request made:\n${traces.join('\n---\n')}`,
      ).toEqual([]);
      // (a generated DELETE may have removed an accepted container again: at most, not exactly)
      expect(after.container - before.container).toBeLessThanOrEqual(ledger.containers.size + ledger.runs.size);
      expect(after.api_token - before.api_token).toBe(ledger.tokens);
      expect(after.id_pool - before.id_pool).toBe(ledger.pools);
      expect(after.image - before.image).toBe(ledger.images - ledger.imagesDeleted);
      expect(after.volume - before.volume).toBe(ledger.volumes - ledger.volumesDeleted);
      // runs: each new row an accepted POST /runs made, or a tick of a schedule one made
      const { rows: newRuns } = await sys.db.query<{ id: string; scheduleId: string | null }>(
        'SELECT id::text AS id, schedule_id AS "scheduleId" FROM run WHERE NOT (id::text = ANY($1))',
        [runsBefore],
      );
      expect(newRuns.filter((r) => (r.scheduleId === null ? !ledger.runs.has(r.id) : !ledger.schedules.has(r.scheduleId)))).toEqual([]);
      // jobs: each new row one an accepted request answered with, or the system's own work on a
      // known container (a restart policy's start; the reconciler's launch, start or delete of an
      // unfinished one); a deleted container's jobs go with it
      const { rows: newJobs } = await sys.db.query<{ id: string; kind: string; key: string | null }>(
        "SELECT id, kind, project || '/' || container AS key FROM job WHERE NOT (id = ANY($1))",
        [jobsBefore],
      );
      const systemJob = (j: { kind: string; key: string | null }) =>
        ['launch', 'start', 'delete'].includes(j.kind) && known.includes(j.key ?? '');
      expect(newJobs.filter((j) => !ledger.jobs.has(j.id) && !systemJob(j)).map((j) => `${j.kind} ${j.id} ${j.key}`)).toEqual([]);
      // projects: made and removed by accepted requests only, and left alone unless a change was accepted
      expect(after.project - before.project).toBe(ledger.projectsCreated.length - ledger.projectsDeleted.length);
      const rowsAfter = await projectRows();
      const allowed = new Set([...SETUP_PROJECTS, ...rowsBefore.keys(), ...ledger.projectsCreated]);
      expect([...rowsAfter.keys()].filter((n) => !allowed.has(n))).toEqual([]);
      for (const [name, row] of rowsBefore)
        if (!ledger.projectsPatched.has(name) && !ledger.projectsDeleted.includes(name))
          expect(rowsAfter.get(name), `project ${name} changed without an accepted PATCH`).toBe(row);
      // leases belong to accepted containers only, and every accepted container ends consistent
      await eventually(
        async () => {
          const open = problems(await snapshot(sys, ['node-a']));
          if (open.length) throw new Error(open.slice(0, 3).join('; '));
          return true;
        },
        120_000,
        'accepted containers to settle',
        500,
      );
      expect(await sys.count('id_lease')).toBeLessThanOrEqual(before.id_lease + ledger.containers.size + ledger.runs.size);
      console.log(
        `[fault-bad-input] seed ${seed}: ${sent} requests (+${ledger.twins} twins) in ${seconds.toFixed(1)} s, statuses ${JSON.stringify(Object.fromEntries([...ledger.byStatus].sort((a, b) => a[0] - b[0])))}; ` +
          `accepted: ${ledger.containers.size} containers, ${ledger.tokens} tokens, ${ledger.pools} pools, ${ledger.images} images (${ledger.imagesDeleted} deleted), ` +
          `${ledger.volumes} volumes (${ledger.volumesDeleted} deleted), ${ledger.runs.size} runs, ${ledger.schedules.size} schedules, ${ledger.jobs.size} jobs, ` +
          `${ledger.projectsCreated.length} projects created, ${ledger.projectsPatched.size} changed, ${ledger.projectsDeleted.length} deleted (each valid)`,
      );
    },
    FULL ? 1_200_000 : 300_000,
  );
});
