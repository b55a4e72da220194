import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, type ImageView } from '@nagaya/contract';
import { buildImage, layerOf, ociLayoutTar, sha256, type FixtureImage } from '../../packages/native/test/support/oci-fixtures';
import { rawTar } from '../../packages/native/test/support/raw-tar';
import { RegistryAuth } from '../../packages/server/src/registry/registry-auth';
import { MEDIA, RegistryClient } from '../../packages/server/src/registry/registry-client';
import { startLocalRegistry, type LocalRegistry } from '../../packages/server/test/support/local-registry';
import { ADMIN_TOKEN, startTestFleet, type TestFleet } from '../../packages/server/test/support/test-server';
import { go, launchBrowser, signIn, Watch } from '../support/dashboard-browser';

/**
 * The Images page in a real chromium against a real nagaya: archives built here are imported
 * through the page's file input (an upload with progress), listed with their layers (the one two
 * images share marked in both), expanded, refused while a container uses them, and deleted.
 */

const SHOTS = resolve('test-output/dashboard-images');

let fleet: TestFleet;
let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
let page: Page;
let watch: Watch;
let dir: string;
/** A rootfs tarball: busybox and a shell. It is also the bottom layer of the OCI image below. */
let baseTar: Buffer;
/** A registry with htpasswd auth, holding the OCI image as lib/app:v1, for the page to pull from. */
let registry: LocalRegistry;
let appImage: FixtureImage;

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const imageRow = (name: string) => page.locator(`tr[data-image="${name}"]`);
const listed = async () => (await fleet.admin.get<{ images: ImageView[] }>('/images')).images;

/** Chooses `file` in the import form and checks the name it suggests, then imports and waits for the row. */
async function importThroughPage(file: string, expectedName: string): Promise<void> {
  const form = page.getByRole('form', { name: 'Import an image' });
  await form.getByLabel('Archive').setInputFiles(file);
  expect(await form.getByLabel('Name').inputValue()).toBe(expectedName);
  await form.getByRole('button', { name: 'Import' }).click();
  await imageRow(expectedName).waitFor();
}

/** Pushes a fixture image (layers, config, manifest) to the registry as repository:tag. */
async function push(repository: string, tag: string, image: FixtureImage): Promise<void> {
  const client = new RegistryClient(registry.url, new RegistryAuth(registry.credentials));
  for (const [i, blob] of [
    ...image.layers.map((l) => ({ digest: l.digest, bytes: l.blob })),
    { digest: image.configDigest, bytes: image.config },
  ].entries()) {
    const file = join(dir, `blob-${i}`);
    writeFileSync(file, blob.bytes);
    await client.pushBlob(repository, blob.digest, file);
  }
  await client.putManifest(repository, tag, MEDIA.ociManifest, image.manifest);
}

/** Whether this server has POST /images/pull yet (an empty body: 400 if the route exists, 404 if not). */
async function pullLanded(): Promise<boolean> {
  try {
    await fleet.admin.post('/images/pull', {});
    return true;
  } catch (err) {
    return !(err instanceof ApiError && err.code === 'NOT_FOUND');
  }
}

beforeAll(async () => {
  execFileSync(process.execPath, [resolve('packages/server/dashboard/build.mjs')], { stdio: 'pipe' });
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'nagaya-dash-images-'));
  baseTar = rawTar([
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/busybox', body: readFileSync('/bin/busybox'), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
  ]);
  writeFileSync(join(dir, 'tiny.tar'), baseTar);
  appImage = buildImage(
    [
      { tar: baseTar, compression: 'gzip' },
      layerOf([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/motd', body: 'hi\n' },
      ]),
    ],
    {
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo hello; exec sleep 1000'],
      Env: ['GREETING=hello', 'PATH=/bin'],
      WorkingDir: '/tmp',
      User: '0:0',
    },
  );
  writeFileSync(join(dir, 'app.oci.tar'), ociLayoutTar(appImage));
  writeFileSync(join(dir, 'junk.tar.gz'), 'this is no archive at all\n'.repeat(40));
  registry = await startLocalRegistry('basic');
  await push('lib/app', 'v1', appImage);
  fleet = await startTestFleet({ slices: 8, env: { NAGAYA_INSECURE_REGISTRIES: registry.host } });
  browser = await launchBrowser();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  watch = new Watch(page, 'admin');
}, 90_000);

afterAll(async () => {
  if (watch) watch.closing = true;
  await browser?.close();
  await fleet?.stop();
  await registry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the Images page in Chromium', () => {
  it('imports a rootfs tarball and an OCI layout through the page, and marks the layer they share', async () => {
    await page.goto(fleet.url);
    await signIn(page, ADMIN_TOKEN);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.locator('header').getByLabel('Project').selectOption('default');
    await go(page, 'Images', 'Images');
    await imageRow('busybox').waitFor();
    await page.getByRole('button', { name: 'Import' }).click();

    // What the server cannot read comes back with its code, in the form.
    watch.allow(400, /\/api\/v1\/images\?name=junk&project=default$/);
    const form = page.getByRole('form', { name: 'Import an image' });
    await form.getByLabel('Archive').setInputFiles(join(dir, 'junk.tar.gz'));
    expect(await form.getByLabel('Name').inputValue()).toBe('junk');
    await form.getByRole('button', { name: 'Import' }).click();
    await expect.poll(() => form.getByTestId('import-error').textContent()).toMatch(/Import failed: .+\(INVALID_INPUT\)/);

    // Over a slow link (Chrome's own throttling, 1 MiB/s up) the upload shows how far it has come.
    const cdp = await browser!.context.newCDPSession(page);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 1024 * 1024,
    });
    await form.getByLabel('Archive').setInputFiles(join(dir, 'tiny.tar'));
    expect(await form.getByLabel('Name').inputValue()).toBe('tiny');
    await form.getByRole('button', { name: 'Import' }).click();
    const progress = form.getByTestId('upload-progress');
    await expect.poll(() => progress.locator('progress').getAttribute('value')).toMatch(/^([1-9]|[1-9][0-9])$/);
    expect(await progress.textContent()).toMatch(/KiB|MiB/);
    await shot('00-upload-progress');
    await imageRow('tiny').waitFor();
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
    expect(await form.getByTestId('upload-progress').count()).toBe(0);
    expect(await form.getByLabel('Archive').inputValue()).toBe('');
    await importThroughPage(join(dir, 'app.oci.tar'), 'app');
    const images = await listed();
    const tiny = images.find((i) => i.name === 'tiny')!;
    const app = images.find((i) => i.name === 'app')!;
    // a rootfs tarball is one layer named by its tar's digest: the OCI image's bottom layer
    expect(tiny.layers.map((l) => l.diffId)).toEqual([sha256(baseTar)]);
    expect(app.layers[0]!.diffId).toBe(sha256(baseTar));
    expect(app.layers).toHaveLength(2);

    const appRow = imageRow('app');
    expect(await appRow.locator('td').nth(1).textContent()).toBe('oci-layout');
    expect(await appRow.getByTestId('layer-count').textContent()).toBe('2 (1 shared)');
    expect(await appRow.locator('[data-digest]').getAttribute('data-digest')).toBe(app.digest);
    expect(await appRow.locator('[data-digest]').textContent()).toBe(app.digest!.slice(7, 19));

    // Expanded, both show the shared layer in one colour, and the app's launch defaults.
    await appRow.getByRole('button', { name: 'Layers of app' }).click();
    await imageRow('tiny').getByRole('button', { name: 'Layers of tiny' }).click();
    const appDetail = page.locator('tr[data-detail-of="app"]');
    const tinyDetail = page.locator('tr[data-detail-of="tiny"]');
    const appLayers = appDetail.locator('li.layer');
    expect(await appLayers.count()).toBe(2);
    expect(await appLayers.nth(0).getAttribute('data-diff-id')).toBe(sha256(baseTar));
    expect(await appLayers.nth(0).getAttribute('data-shared')).toBe('true');
    expect(await appLayers.nth(1).getAttribute('data-shared')).toBe('false');
    expect(await appLayers.nth(0).locator('.layer-shared').textContent()).toBe('shared with tiny');
    const colourOf = (li: ReturnType<Page['locator']>) => li.locator('.layer-bar').evaluate((el) => getComputedStyle(el).backgroundColor);
    const sharedColour = await colourOf(appLayers.nth(0));
    expect(await colourOf(tinyDetail.locator('li.layer').first())).toBe(sharedColour);
    expect(await colourOf(appLayers.nth(1))).not.toBe(sharedColour);
    // bars as long as the layers' sizes: busybox is far bigger than the motd layer
    const widths = await appLayers.locator('.layer-bar').evaluateAll((els) => els.map((el) => el.getBoundingClientRect().width));
    expect(widths[0]!).toBeGreaterThan(widths[1]! * 10);
    expect(await appDetail.getByTestId('entrypoint').textContent()).toBe('/bin/sh -c');
    expect(await appDetail.getByTestId('cmd').textContent()).toBe("'echo hello; exec sleep 1000'");
    expect(await appDetail.getByTestId('env').locator('li').allTextContents()).toEqual(['GREETING=hello', 'PATH=/bin']);
    await shot('01-images-expanded');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot('01-phone-images-expanded');
    await page.setViewportSize({ width: 1280, height: 800 });
    watch.check();
  });

  it('refuses to delete an image a container uses, saying by how many, and deletes it once it is free', async () => {
    await fleet.admin.post('/containers', { name: 'user1', image: 'tiny', command: ['/bin/busybox', 'sleep', '1000'] });
    watch.allow(409, /\/api\/v1\/images\/tiny\?project=default$/);
    const tinyRow = imageRow('tiny');
    await tinyRow.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete tiny?' }).getByRole('button', { name: 'Delete tiny' }).click();
    await expect
      .poll(() => page.locator('.notice.error').last().textContent())
      .toMatch(/delete of tiny failed: used by 1 container \(CONFLICT\)/);
    await shot('02-delete-in-use');
    expect((await listed()).map((i) => i.name)).toContain('tiny');

    // app goes: its own layer is freed, the shared one stays for tiny.
    await imageRow('app').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete app?' }).getByRole('button', { name: 'Delete app' }).click();
    await expect.poll(() => imageRow('app').count()).toBe(0);
    await expect.poll(() => page.locator('.notice').last().textContent()).toMatch(/app deleted; 1 layer no other image used freed/);
    expect((await listed()).find((i) => i.name === 'tiny')?.layers).toHaveLength(1);

    const { job } = await fleet.admin.delete<{ job: { id: string } }>('/containers/user1?force=1');
    await fleet.admin.waitForJob(job.id, 30_000);
    await tinyRow.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete tiny?' }).getByRole('button', { name: 'Delete tiny' }).click();
    await expect.poll(() => tinyRow.count()).toBe(0);
    expect((await listed()).map((i) => i.name)).toEqual(['busybox']);
    watch.check();
  });

  it("shows a pull's failure, whether the server refuses it or its job fails", async () => {
    // Before the pull endpoint exists the API answers 404; after, the job fails on a registry nobody runs.
    watch.allow(404, /\/api\/v1\/images\/pull\?project=default$/);
    await page.getByRole('button', { name: 'Pull' }).click();
    const form = page.getByRole('form', { name: 'Pull an image' });
    await form.getByLabel('Reference').fill('127.0.0.1:9/nobody/missing:1');
    await form.getByLabel('Username').fill('someone');
    await form.getByLabel('Password').fill('secret-password');
    await form.getByRole('button', { name: 'Pull' }).click();
    await expect
      .poll(() => form.getByTestId('pull-error').textContent(), { timeout: 20_000 })
      .toMatch(/This server cannot pull images yet: .+\(NOT_FOUND\)|Pull failed: the pull of missing:1 failed: ./);
    // the credentials were for that request only
    const stored = await page.evaluate(() => JSON.stringify({ ...window.localStorage }) + JSON.stringify({ ...window.sessionStorage }));
    expect(stored).not.toContain('secret-password');
    await shot('03-pull-error');
    watch.check();
  });

  it('pulls from a registry with credentials, showing the job until it ends, and lists the image', async (ctx) => {
    if (!(await pullLanded())) ctx.skip();
    const form = page.getByRole('form', { name: 'Pull an image' });
    await form.getByLabel('Reference').fill(`${registry.host}/lib/app:v1`);
    await form.getByLabel('Name', { exact: true }).fill('pulled');
    await form.getByLabel('Username').fill(registry.credentials!.username);
    await form.getByLabel('Password').fill(registry.credentials!.password);
    await form.getByRole('button', { name: 'Pull' }).click();
    await imageRow('pulled').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('.notice').last().textContent()).toMatch(/pulled pulled into project default/);
    expect(await form.getByTestId('pull-error').count()).toBe(0);
    // the form forgets the password once the pull is done
    expect(await form.getByLabel('Password').inputValue()).toBe('');
    const pulled = (await listed()).find((i) => i.name === 'pulled')!;
    expect(pulled.layers.map((l) => l.diffId)).toEqual(appImage.layers.map((l) => l.diffId));
    expect(await imageRow('pulled').getByTestId('layer-count').textContent()).toBe('2');
    await imageRow('pulled').getByRole('button', { name: 'Layers of pulled' }).click();
    expect(await page.locator('tr[data-detail-of="pulled"]').getByTestId('cmd').textContent()).toBe("'echo hello; exec sleep 1000'");
    await shot('04-pulled');
    await imageRow('pulled').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete pulled?' }).getByRole('button', { name: 'Delete pulled' }).click();
    await expect.poll(() => imageRow('pulled').count()).toBe(0);
    watch.check();
  });

  it('gives a viewer the list and its layers, and no import, pull or delete', async () => {
    const { token } = await fleet.admin.post<{ token: string }>('/tokens', { name: 'images-viewer', role: 'viewer' });
    const viewer = await browser!.context.newPage();
    const viewerWatch = new Watch(viewer, 'viewer');
    try {
      await viewer.goto(fleet.url);
      await signIn(viewer, token);
      await viewer.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      await go(viewer, 'Images', 'Images');
      await viewer.locator('tr[data-image="busybox"]').waitFor();
      expect(await viewer.getByRole('button', { name: /^(Import|Pull|Delete)/ }).count()).toBe(0);
      await viewer.getByRole('button', { name: 'Layers of busybox' }).click();
      await viewer.locator('tr[data-detail-of="busybox"]').waitFor();
      viewerWatch.check();
    } finally {
      viewerWatch.closing = true;
      await viewer.close();
    }
  });
});
