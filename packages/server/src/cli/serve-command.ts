import { EXIT } from './exit-codes';

/** `nagaya serve`: runs the API and/or a worker until SIGINT or SIGTERM. */
export async function serve(role: string | undefined): Promise<number> {
  // loaded here, not at the top: client commands should not pay for the server's dependencies
  const { loadConfig } = require('../config') as typeof import('../config');
  const { startNagaya } = require('../nagaya-server') as typeof import('../nagaya-server');
  const config = loadConfig(process.env, role ? { role: role as 'all' } : {});
  const server = await startNagaya(config);
  if (server.generatedAdminToken) {
    console.error(`\nAdmin token (shown once, stored hashed): ${server.generatedAdminToken}\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return EXIT.ok;
}
