import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECURITY_HEADERS } from '../../packages/server/src/api/security-headers';
import { ADMIN_TOKEN, eventually, freePort, NagayaSystem, runCli, ServeProcess } from '../support/system';

/**
 * How the API meets the network, as `nagaya serve --role api` processes: it binds 127.0.0.1
 * unless NAGAYA_LISTEN says otherwise (it used to bind 0.0.0.0), serves HTTPS when given a
 * certificate and key (and refuses to start with half a pair or a file it cannot read), and every
 * answer, dashboard or API, carries the security headers. Also the CLI over HTTPS and its token
 * commands.
 */

let sys: NagayaSystem;
let dir: string;
let external: string;
/** A dummy interface this test made because the machine had no non-loopback address (removed after). */
let dummy: string | undefined;

/** A non-loopback IPv4 address of this machine; without one, a dummy interface with a TEST-NET-2 address. */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  dummy = 'nagaya-lt0';
  execFileSync('ip', ['link', 'add', dummy, 'type', 'dummy']);
  execFileSync('ip', ['addr', 'add', '198.51.100.77/32', 'dev', dummy]);
  execFileSync('ip', ['link', 'set', dummy, 'up']);
  return '198.51.100.77';
}

/** Status and headers of a GET, or the error code when nothing answers. */
async function probe(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers } | { error: string }> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return { status: res.status, headers: res.headers };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? (err as Error).message };
  }
}

function httpsProbe(url: string, ca: Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    }).on('error', reject);
  });
}

function selfSigned(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=nagaya-test',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/** Starts one more API process of the system with `env`; the caller kills it. */
async function extraApi(name: string, env: Record<string, string>): Promise<{ proc: ServeProcess; port: number }> {
  const port = await freePort();
  const proc = new ServeProcess('api', name, sys.env({ PORT: String(port), NAGAYA_NODE_NAME: name, ...env }), join(dir, `${name}.log`));
  return { proc, port };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nagaya-listen-'));
  external = externalAddress();
  // NAGAYA_LISTEN empty: the default, as an installation that never set it
  sys = await NagayaSystem.start({ slices: 2, nodes: [], env: { NAGAYA_LISTEN: '' } });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
  if (dummy) execFileSync('ip', ['link', 'del', dummy]);
  rmSync(dir, { recursive: true, force: true });
});

describe('the API on the network', () => {
  it("binds 127.0.0.1 by default: nothing answers on the machine's other addresses", async () => {
    expect(sys.api.lines.find((l) => l.msg === 'api listening')).toMatchObject({ url: `http://127.0.0.1:${sys.port}`, tls: false });
    expect(await probe(`http://127.0.0.1:${sys.port}/healthz`)).toMatchObject({ status: 200 });
    expect(await probe(`http://${external}:${sys.port}/healthz`)).toEqual({ error: 'ECONNREFUSED' });
    // the probe itself reaches that address: an API told to listen everywhere answers there
    const open = await extraApi('api-open', { NAGAYA_LISTEN: '0.0.0.0' });
    try {
      await open.proc.ready;
      expect(await probe(`http://${external}:${open.port}/healthz`)).toMatchObject({ status: 200 });
    } finally {
      await open.proc.kill();
    }
  });

  it('sends the security headers on every answer: API, errors, health, dashboard and its assets', async () => {
    const index = await fetch(`${sys.url}/`);
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length, html).toBeGreaterThanOrEqual(3); // script, stylesheet, icon
    // nothing inline that the policy would have to allow
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i);
    const urls: Array<[string, Record<string, string>, number]> = [
      ['/', {}, 200],
      ['/containers/web1', {}, 200],
      ...assets.map((a): [string, Record<string, string>, number] => [a, {}, 200]),
      ['/healthz', {}, 200],
      ['/api/v1/whoami', { authorization: `Bearer ${ADMIN_TOKEN}` }, 200],
      ['/api/v1/openapi.json', { authorization: `Bearer ${ADMIN_TOKEN}` }, 200],
      ['/api/v1/containers', {}, 401],
      ['/api/v1/nothing-here', { authorization: `Bearer ${ADMIN_TOKEN}` }, 404],
      ['/metrics', {}, 401],
    ];
    for (const [path, headers, status] of urls) {
      const res = await probe(`${sys.url}${path}`, headers);
      expect(res, path).toMatchObject({ status });
      for (const [name, value] of Object.entries(SECURITY_HEADERS))
        expect((res as { headers: Headers }).headers.get(name), `${name} on ${path}`).toBe(value);
    }
    expect(SECURITY_HEADERS['Content-Security-Policy']).toMatch(/^default-src 'self'/);
    expect(SECURITY_HEADERS).toMatchObject({
      'X-Frame-Options': 'DENY',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
  });

  it('serves HTTPS with NAGAYA_TLS_CERT and NAGAYA_TLS_KEY; the CLI works over it', async () => {
    const { cert, key } = selfSigned('good');
    const tls = await extraApi('api-tls', { NAGAYA_TLS_CERT: cert, NAGAYA_TLS_KEY: key });
    try {
      await tls.proc.ready;
      const url = `https://127.0.0.1:${tls.port}`;
      expect(tls.proc.lines.find((l) => l.msg === 'api listening')).toMatchObject({ url, tls: true });
      const res = await httpsProbe(`${url}/api/v1/whoami`, readFileSync(cert));
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ name: 'admin', role: 'admin', project: null });
      expect(res.headers['content-security-policy']).toBe(SECURITY_HEADERS['Content-Security-Policy']);
      // no plain HTTP on that port
      expect(await probe(`http://127.0.0.1:${tls.port}/healthz`)).not.toMatchObject({ status: 200 });
      const cli = await runCli(['tokens', 'list', '--json'], { NAGAYA_URL: url, NAGAYA_TOKEN: ADMIN_TOKEN, NODE_EXTRA_CA_CERTS: cert });
      expect(cli.code, cli.stderr).toBe(0);
      expect(JSON.parse(cli.stdout).map((t: { name: string }) => t.name)).toContain('admin');
      // a certificate the CLI does not trust: refused, and it says why
      const untrusted = await runCli(['tokens', 'list'], { NAGAYA_URL: url, NAGAYA_TOKEN: ADMIN_TOKEN });
      expect(untrusted.code).toBe(5);
      expect(untrusted.stderr).toMatch(/certificate/i);
    } finally {
      await tls.proc.kill();
    }
  });

  it('refuses to start with half a TLS pair, a file it cannot read, or a key of another certificate', async () => {
    const good = selfSigned('pair-a');
    const other = selfSigned('pair-b');
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ NAGAYA_TLS_CERT: good.cert }, /HTTPS needs both NAGAYA_TLS_CERT and NAGAYA_TLS_KEY; only NAGAYA_TLS_CERT is set/],
      [{ NAGAYA_TLS_KEY: good.key }, /only NAGAYA_TLS_KEY is set/],
      [{ NAGAYA_TLS_CERT: join(dir, 'missing.crt'), NAGAYA_TLS_KEY: good.key }, /NAGAYA_TLS_CERT=.*missing\.crt cannot be read/],
      [{ NAGAYA_TLS_CERT: good.cert, NAGAYA_TLS_KEY: other.key }, /are not a PEM certificate and its key/],
    ];
    for (const [i, [env, message]] of cases.entries()) {
      const bad = await extraApi(`api-bad-${i}`, env);
      const { code } = await bad.proc.exited;
      await bad.proc.kill();
      expect(code, JSON.stringify(env)).toBe(1);
      await eventually(
        async () => (message.test(readFileSync(join(dir, `api-bad-${i}.log`), 'utf8')) ? true : undefined),
        5000,
        `${message} in the log`,
      );
      expect(await probe(`http://127.0.0.1:${bad.port}/healthz`)).toEqual({ error: 'ECONNREFUSED' });
    }
  });

  it('nagaya tokens create --expires, list and revoke; a revoked token is denied (exit 7)', async () => {
    const made = await sys.cli(['tokens', 'create', 'ci-bot', '--role', 'operator', '--expires', '3600', '--json']);
    expect(made.code, made.stderr).toBe(0);
    const created = JSON.parse(made.stdout) as { token: string; id: number; expiresAt: string };
    expect(Date.parse(created.expiresAt) - Date.now()).toBeGreaterThan(3500_000);
    const list = await sys.cli(['tokens', 'list']);
    expect(list.stdout).toMatch(new RegExp(`^${created.id}\\s+ci-bot\\s+operator\\s+default\\s+active`, 'm'));
    expect(list.stdout).not.toContain(created.token);
    expect((await sys.cli(['list'], created.token)).code).toBe(0);
    const revoke = await sys.cli(['tokens', 'revoke', String(created.id)]);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain(`token ${created.id} (ci-bot) revoked`);
    const denied = await sys.cli(['list'], created.token);
    expect(denied.code).toBe(7);
    expect(denied.stderr).toMatch(/UNAUTHORIZED/);
    expect((await sys.cli(['tokens', 'list'])).stdout).toMatch(
      new RegExp(`^${created.id}\\s+ci-bot\\s+operator\\s+default\\s+revoked`, 'm'),
    );
    // an operator may not revoke
    const op = JSON.parse((await sys.cli(['tokens', 'create', 'op2', '--role', 'operator', '--json'])).stdout) as { token: string };
    const forbidden = await sys.cli(['tokens', 'revoke', '1'], op.token);
    expect(forbidden.code).toBe(7);
    expect(forbidden.stderr).toMatch(/FORBIDDEN/);
  });
});
