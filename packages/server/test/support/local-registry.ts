import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** A real distribution v2 registry (Debian's docker-registry) on 127.0.0.1, with its storage in a temporary directory. */
export interface LocalRegistry {
  /** host:port */
  host: string;
  url: string;
  credentials?: { username: string; password: string };
  /** Requests the token service answered (bearer mode). */
  tokensIssued(): number;
  /** "METHOD path" of every request the registry served, from its access log, oldest first. */
  requests(): string[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts a registry. `auth`: none; `basic`, an htpasswd file (bcrypt, as distribution wants);
 * `bearer`, the distribution token flow: a token service of this test signs ES256 JWTs with a
 * key whose self-signed certificate the registry trusts.
 */
export async function startLocalRegistry(auth: 'none' | 'basic' | 'bearer' = 'none'): Promise<LocalRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'nagaya-registry-'));
  const port = await freePort();
  const credentials = auth === 'none' ? undefined : { username: 'fleet', password: `pw-${randomUUID()}` };
  let tokenServer: Server | undefined;
  let issued = 0;
  let authConfig = '';
  if (auth === 'basic') {
    execFileSync('htpasswd', ['-Bbc', join(dir, 'htpasswd'), credentials!.username, credentials!.password], { stdio: 'ignore' });
    authConfig = `auth:\n  htpasswd:\n    realm: nagaya-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth === 'bearer') {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=nagaya-test-token',
        '-keyout',
        join(dir, 'token.key'),
        '-out',
        join(dir, 'token.crt'),
      ],
      { stdio: 'ignore' },
    );
    const key = createPrivateKey(readFileSync(join(dir, 'token.key')));
    const certDer = Buffer.from(
      readFileSync(join(dir, 'token.crt'), 'utf8').replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ''),
      'base64',
    ).toString('base64');
    tokenServer = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const expected = `Basic ${Buffer.from(`${credentials!.username}:${credentials!.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401).end();
        return;
      }
      issued++;
      const access = (url.searchParams.getAll('scope') ?? []).map((scope) => {
        const [type, name, actions] = scope.split(':');
        return { type, name, actions: (actions ?? '').split(',') };
      });
      const now = Math.floor(Date.now() / 1000);
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const head = enc({ alg: 'ES256', typ: 'JWT', x5c: [certDer] });
      const claims = enc({
        iss: 'nagaya-test',
        sub: credentials!.username,
        aud: 'nagaya-registry',
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      });
      const signature = sign('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${head}.${claims}.${signature}` }));
    });
    await new Promise<void>((resolve) => tokenServer!.listen(0, '127.0.0.1', resolve));
    const tokenPort = (tokenServer.address() as AddressInfo).port;
    authConfig =
      `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: nagaya-registry\n` +
      `    issuer: nagaya-test\n    rootcertbundle: ${join(dir, 'token.crt')}\n`;
  }
  const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: ${join(dir, 'storage')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${authConfig}`;
  writeFileSync(join(dir, 'config.yml'), config);
  const child: ChildProcess = spawn(REGISTRY_BINARY, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const served: string[] = [];
  let partial = '';
  // the access log goes to stdout in the combined log format: "GET /v2/... HTTP/1.1" 200 ...
  child.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = /"([A-Z]+) (\S+) HTTP/.exec(line);
      if (m) served.push(`${m[1]} ${m[2]}`);
    }
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const answered = await fetch(`${url}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (answered === 200 || answered === 401) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      tokenServer?.close();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    ...(credentials ? { credentials } : {}),
    tokensIssued: () => issued,
    requests: () => [...served],
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      await new Promise((r) => (tokenServer ? tokenServer.close(r) : r(undefined)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
