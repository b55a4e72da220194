// A pull's layout directory goes through the importer as a tar that `tar` writes. A small
// layout's tar exits before the importer starts reading; its output must still arrive whole.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importLayoutDir } from '../src/images/import-layout';
import { buildImage, layerOf, ociLayoutFiles } from '../../native/test/support/oci-fixtures';

const work = mkdtempSync(join(tmpdir(), 'nagaya-import-layout-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('importLayoutDir', () => {
  it('imports a layout small enough that its tar has exited before the importer reads', async () => {
    const image = buildImage([layerOf([{ name: 'hello', body: 'hi\n' }])]);
    for (let i = 0; i < 3; i++) {
      const layout = join(work, `layout-${i}`);
      for (const [name, body] of ociLayoutFiles(image)) {
        mkdirSync(dirname(join(layout, name)), { recursive: true });
        writeFileSync(join(layout, name), body);
      }
      const imported = await importLayoutDir(layout, join(work, `store-${i}`), { maxBytes: 1 << 20, maxEntries: 100, maxDepth: 16 });
      expect(imported.manifestDigest).toBe(image.manifestDigest);
    }
  });
});
