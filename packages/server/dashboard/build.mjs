// Builds the dashboard into dist/: one bundled, minified script and stylesheet with content
// hashes in their names (the server caches assets for an hour), and index.html pointing at them.
// What a page loads only on demand (the terminal, xterm.js) is split into chunks beside them.
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
const result = await build({
  entryPoints: [join(root, 'src/main.tsx'), join(root, 'src/styles.css')],
  outdir: join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  splitting: true,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  metafile: true,
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).filter((f) => !f.endsWith('.map'));
const entryOutput = (source) => outputs.find((f) => result.metafile.outputs[f].entryPoint?.endsWith(source));
const script = entryOutput('src/main.tsx');
const style = entryOutput('src/styles.css');
if (!script || !style) throw new Error(`esbuild produced ${outputs.join(', ')}`);
const html = (await readFile(join(root, 'index.html'), 'utf8'))
  .replace('%SCRIPT%', `/assets/${basename(script)}`)
  .replace('%STYLE%', `/assets/${basename(style)}`);
await writeFile(join(dist, 'index.html'), html);
// a file of its own, not a data: URL, which the Content-Security-Policy (default-src 'self') refuses
await copyFile(join(root, 'favicon.svg'), join(dist, 'favicon.svg'));
console.log(`dashboard: ${outputs.map((f) => basename(f)).join(', ')} and index.html in ${dist}`);
