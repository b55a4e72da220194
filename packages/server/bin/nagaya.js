#!/usr/bin/env node
// The `nagaya` command as npm links it (node_modules/.bin/nagaya, `npx nagaya`) and as `npm run up`
// puts it on the PATH. It is committed, not built: npm links a bin only if its file exists when it
// installs, and a fresh clone is installed before it is built. The command is dist/cli/nagaya.js.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const cli = join(__dirname, '..', 'dist', 'cli', 'nagaya.js');
if (!existsSync(cli)) {
  console.error(`nagaya is not built yet: run \`npm run build\` (or \`npm run up\`) in ${join(__dirname, '..', '..', '..')}`);
  process.exit(1);
}
require(cli);
