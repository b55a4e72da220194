import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { NagayaError } from '../errors';
import type { ServerConfig } from '../config';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new NagayaError('INVALID_INPUT', `${variable}=${path} cannot be read: ${(err as Error).message}`);
  }
}

/** Reads NAGAYA_TLS_CERT/NAGAYA_TLS_KEY and checks that they make a pair, so a bad file stops the start, not the first client. */
export function readTls(tls: NonNullable<ServerConfig['tls']>): TlsFiles {
  const files = { cert: readPem('NAGAYA_TLS_CERT', tls.certPath), key: readPem('NAGAYA_TLS_KEY', tls.keyPath) };
  try {
    createSecureContext(files);
  } catch (err) {
    throw new NagayaError(
      'INVALID_INPUT',
      `NAGAYA_TLS_CERT=${tls.certPath} and NAGAYA_TLS_KEY=${tls.keyPath} are not a PEM certificate and its key: ${(err as Error).message}`,
    );
  }
  return files;
}

/** The URL a client on this host reaches a server bound to `host` at. */
function urlOf(tls: boolean, host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${tls ? 'https' : 'http'}://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** Serves `app` on NAGAYA_LISTEN:PORT, over HTTPS when TLS files are given. */
export async function listen(
  app: RequestListener,
  config: Pick<ServerConfig, 'host' | 'port'>,
  tls: TlsFiles | undefined,
): Promise<{ server: Server; url: string }> {
  const server = tls ? createHttpsServer(tls, app) : createHttpServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  return { server, url: urlOf(Boolean(tls), config.host, port) };
}
