// `npm run bench:images`: importing a ~90 MB, 3-layer OCI image archive (gzip layers of
// /usr/lib/gcc, /usr/lib/python3.11 + /usr/share/perl + cmake, /usr/share/vim + /usr/share/icons, built
// with the machine's tar and gzip) into a fresh layer store, against, in the same run and on the
// same OCI layout, the tools that do the same part of the work:
// - nagaya's import (importImage with deferUnpack: spool, verify every blob's digest, keep the
//   blobs packed) against `skopeo copy oci: oci:` (verify and copy the blobs);
// - nagaya's unpack at an image's first launch on a node (unpackPackedLayers: gunzip, verify each
//   diff_id, unpack through nagaya-extract) against `umoci unpack` (verify, unpack one rootfs);
// - the eager import (both in one) against `umoci unpack`, and a re-import of an image whose
//   layers are unpacked (each verified in full) against `skopeo copy --dest-decompress oci: dir:`;
// - nagaya's pull from a registry on this machine (Debian's docker-registry, the image pushed
//   there by skopeo): download and verify every blob by digest into a layout, then import it in
//   place (deferUnpack; the verified blobs are moved into the store), as a pull job does before it
//   records the image, against `skopeo copy docker:// oci:` of the same image.
// Each runs IMAGES_RUNS times (3), alternating, on a warm page cache; the median counts. Prints a
// table and one JSON line. Run as root (the extractor and umoci chown). IMAGES_KEEP=1 keeps the work directory.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { importImage, importImageLayout, unpackPackedLayers } from '../packages/native/src';
import { nodePlatform, pullToLayout } from '../packages/server/src/registry/pull-to-layout';
import { RegistryAuth } from '../packages/server/src/registry/registry-auth';
import { RegistryClient } from '../packages/server/src/registry/registry-client';
import { REGISTRY_BINARY, startLocalRegistry } from '../packages/server/test/support/local-registry';

const RUNS = Number(process.env.IMAGES_RUNS ?? 3);
const LAYERS = [['usr/lib/gcc'], ['usr/lib/python3.11', 'usr/share/perl', 'usr/share/cmake-3.25'], ['usr/share/vim', 'usr/share/icons']];
const ARCH = process.arch === 'x64' ? 'amd64' : process.arch;

const sh = (command: string) => {
  const run = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${command}: ${run.stderr.trim()}`);
  return run.stdout;
};
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const sha256File = (path: string) => `sha256:${sh(`sha256sum ${path}`).split(' ')[0]}`;
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Writes an OCI layout of the three layers under dir/layout and returns its tar's path. */
function buildLayout(dir: string): { archive: string; archiveBytes: number; tarBytes: number } {
  const layout = join(dir, 'layout');
  const blobs = join(layout, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const layers = LAYERS.map((paths, i) => {
    const tar = join(dir, `layer-${i}.tar`);
    sh(`tar --numeric-owner -C / -cf ${tar} ${paths.join(' ')} 2>/dev/null || [ -s ${tar} ]`);
    sh(`gzip -n -6 -c ${tar} > ${tar}.gz`);
    const digest = sha256File(`${tar}.gz`);
    sh(`mv ${tar}.gz ${join(blobs, digest.slice(7))}`);
    const layer = { diffId: sha256File(tar), digest, size: statSync(join(blobs, digest.slice(7))).size, tarBytes: statSync(tar).size };
    rmSync(tar);
    return layer;
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: ARCH,
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    }),
  );
  for (const blob of [config, manifest]) writeFileSync(join(blobs, sha256(blob).slice(7)), blob);
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha256(manifest),
        size: manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'bench' },
      },
    ],
  };
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  const archive = join(dir, 'image.tar');
  sh(`tar -C ${layout} -cf ${archive} oci-layout index.json blobs`);
  return { archive, archiveBytes: statSync(archive).size, tarBytes: layers.reduce((s, l) => s + l.tarBytes, 0) };
}

function seconds(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function secondsAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench:images runs as root (the extractor and umoci chown)');
  const dir = mkdtempSync(join(tmpdir(), 'nagaya-bench-images-'));
  try {
    const built = buildLayout(dir);
    const layout = join(dir, 'layout');
    const mb = built.archiveBytes / 1e6;
    const tools: Record<string, number[]> = {
      nagaya: [],
      nagayaUnpack: [],
      nagayaEager: [],
      nagayaPresent: [],
      umoci: [],
      skopeo: [],
      skopeoDecompress: [],
      nagayaPull: [],
      skopeoPull: [],
    };
    const useSkopeo = has('skopeo');
    const useUmoci = has('umoci');
    // A rootfs tarball's worth of limits: the layers here are 60-125 MB each.
    const options = { maxArchiveBytes: 1024 ** 3, layerLimits: { maxBytes: 1024 ** 3, maxEntries: 1_000_000, maxDepth: 128 } };
    const registry = useSkopeo && existsSync(REGISTRY_BINARY) ? await startLocalRegistry('none') : undefined;
    if (registry)
      sh(`skopeo --insecure-policy copy -q --dest-tls-verify=false oci:${layout}:bench docker://${registry.host}/bench/images:1`);
    for (let run = 0; run < RUNS; run++) {
      // what an import does now: verify and keep the blobs packed; the first launch on the node unpacks
      const store = join(dir, `store-${run}`);
      let blobs: Array<{ diffId: string; digest: string }> = [];
      tools.nagaya.push(
        await secondsAsync(async () => {
          const imported = await importImage(createReadStream(built.archive), store, { ...options, deferUnpack: true });
          blobs = imported.layers.map((l) => ({ diffId: l.diffId, digest: l.digest }));
        }),
      );
      tools.nagayaUnpack.push(await secondsAsync(() => unpackPackedLayers(store, blobs, options.layerLimits)));
      tools.nagayaPresent.push(
        await secondsAsync(() => importImage(createReadStream(built.archive), store, { ...options, deferUnpack: true })),
      );
      rmSync(store, { recursive: true, force: true });
      const eager = join(dir, `eager-${run}`);
      tools.nagayaEager.push(await secondsAsync(() => importImage(createReadStream(built.archive), eager, options)));
      rmSync(eager, { recursive: true, force: true });
      if (useUmoci) {
        const bundle = join(dir, `bundle-${run}`);
        tools.umoci.push(seconds(() => sh(`umoci unpack --image ${layout}:bench ${bundle} >/dev/null`)));
        rmSync(bundle, { recursive: true, force: true });
      }
      if (useSkopeo) {
        const copy = join(dir, `copy-${run}`);
        tools.skopeo.push(seconds(() => sh(`skopeo --insecure-policy copy -q oci:${layout}:bench oci:${copy}:bench`)));
        rmSync(copy, { recursive: true, force: true });
        tools.skopeoDecompress.push(
          seconds(() => sh(`skopeo --insecure-policy copy -q --dest-decompress oci:${layout}:bench dir:${copy}`)),
        );
        rmSync(copy, { recursive: true, force: true });
      }
      if (registry) {
        const pulled = join(dir, `pulled-${run}`);
        const pullStore = join(dir, `pull-store-${run}`);
        const client = new RegistryClient(registry.url, new RegistryAuth(undefined));
        tools.nagayaPull.push(
          await secondsAsync(async () => {
            await pullToLayout(client, 'bench/images', '1', pulled, { platform: nodePlatform(), maxBytes: 1024 ** 3 });
            await importImageLayout(pulled, pullStore, { layerLimits: options.layerLimits, deferUnpack: true, blobsVerified: true });
          }),
        );
        rmSync(pulled, { recursive: true, force: true });
        rmSync(pullStore, { recursive: true, force: true });
        const copy = join(dir, `skopeo-pull-${run}`);
        tools.skopeoPull.push(
          seconds(() =>
            sh(`skopeo --insecure-policy copy -q --src-tls-verify=false docker://${registry.host}/bench/images:1 oci:${copy}:bench`),
          ),
        );
        rmSync(copy, { recursive: true, force: true });
      }
    }
    const ours = median(tools.nagaya);
    const oursUnpack = median(tools.nagayaUnpack);
    const oursEager = median(tools.nagayaEager);
    const oursPresent = median(tools.nagayaPresent);
    const umoci = useUmoci ? median(tools.umoci) : undefined;
    const skopeo = useSkopeo ? median(tools.skopeo) : undefined;
    const skopeoDecompress = useSkopeo ? median(tools.skopeoDecompress) : undefined;
    const oursPull = registry ? median(tools.nagayaPull) : undefined;
    const skopeoPull = registry ? median(tools.skopeoPull) : undefined;
    await registry?.stop();
    console.log(
      `import of a ${mb.toFixed(1)} MB OCI layout (3 gzip layers, ${(built.tarBytes / 1e6).toFixed(0)} MB uncompressed), median of ${RUNS} runs`,
    );
    console.log('| tool | what it does | seconds | MB/s (archive) | nagaya ÷ tool |');
    console.log('|---|---|---|---|---|');
    const row = (name: string, what: string, s: number | undefined) =>
      s === undefined
        ? console.log(`| ${name} | ${what} | not installed | | |`)
        : console.log(`| ${name} | ${what} | ${s.toFixed(2)} | ${(mb / s).toFixed(0)} | |`);
    const against = (name: string, what: string, s: number | undefined, mine: number) =>
      s === undefined
        ? console.log(`| ${name} | ${what} | not installed | | |`)
        : console.log(`| ${name} | ${what} | ${s.toFixed(2)} | ${(mb / s).toFixed(0)} | ${(mine / s).toFixed(2)} |`);
    row('nagaya import (deferUnpack)', 'spool, verify, keep 3 blobs packed', ours);
    against('skopeo copy oci: oci:', 'verify, copy blobs (no unpack)', skopeo, ours);
    row('nagaya unpack at first launch', 'gunzip, verify diff_ids, unpack 3 layer dirs', oursUnpack);
    against('umoci unpack', 'verify, unpack one rootfs + mtree', umoci, oursUnpack);
    row('nagaya import, eager', 'spool, verify, unpack 3 layer dirs (import and unpack in one)', oursEager);
    against('umoci unpack', 'verify, unpack one rootfs + mtree', umoci, oursEager);
    row('nagaya re-import, layers unpacked', 'spool, verify each layer in full (gunzip, diff_id)', oursPresent);
    against('skopeo copy --dest-decompress oci: dir:', 'verify, gunzip to layer tars (no unpack)', skopeoDecompress, oursPresent);
    row('nagaya pull (deferUnpack)', 'download and verify blobs, import them packed', oursPull);
    if (oursPull !== undefined) against('skopeo copy docker:// oci:', 'download and verify blobs', skopeoPull, oursPull);
    console.log(
      JSON.stringify({
        bench: 'images',
        archive_mb: Number(mb.toFixed(1)),
        uncompressed_mb: Number((built.tarBytes / 1e6).toFixed(1)),
        layers: LAYERS.length,
        runs: RUNS,
        import_s: Number(ours.toFixed(3)),
        import_mb_s: Number((mb / ours).toFixed(1)),
        unpack_s: Number(oursUnpack.toFixed(3)),
        eager_import_s: Number(oursEager.toFixed(3)),
        reimport_s: Number(oursPresent.toFixed(3)),
        umoci_unpack_s: umoci === undefined ? null : Number(umoci.toFixed(3)),
        skopeo_copy_s: skopeo === undefined ? null : Number(skopeo.toFixed(3)),
        skopeo_decompress_s: skopeoDecompress === undefined ? null : Number(skopeoDecompress.toFixed(3)),
        import_ratio_vs_skopeo: skopeo === undefined ? null : Number((ours / skopeo).toFixed(2)),
        unpack_ratio_vs_umoci: umoci === undefined ? null : Number((oursUnpack / umoci).toFixed(2)),
        eager_ratio_vs_umoci: umoci === undefined ? null : Number((oursEager / umoci).toFixed(2)),
        pull_s: oursPull === undefined ? null : Number(oursPull.toFixed(3)),
        skopeo_pull_s: skopeoPull === undefined ? null : Number(skopeoPull.toFixed(3)),
        pull_ratio_vs_skopeo: oursPull === undefined || skopeoPull === undefined ? null : Number((oursPull / skopeoPull).toFixed(2)),
        reimport_ratio_vs_skopeo_decompress: skopeoDecompress === undefined ? null : Number((oursPresent / skopeoDecompress).toFixed(2)),
        samples: tools,
      }),
    );
  } finally {
    if (process.env.IMAGES_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    else console.error(`kept ${dir}`);
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
