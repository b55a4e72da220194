import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TokenView } from '@nagaya/contract';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, eventually, startTestFleet, type TestFleet } from '../../packages/server/test/support/test-server';
import { go, launchBrowser, signIn, Watch } from '../support/dashboard-browser';

/**
 * The dashboard's admin pieces in a real chromium against a real nagaya: the Tokens page (a token
 * made there works against the API until it is revoked there), the container's environment with
 * its values hidden until asked for, and an overview that forgets failures that were fixed.
 */

const SHOTS = resolve('test-output/dashboard-admin');

let fleet: TestFleet;
let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
let page: Page;
let watch: Watch;
/** A host directory for a hostPath mount, missing at first (the launch fails) and made later (the start succeeds). */
let hostDir: string;

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
/** GET /containers with `token`, straight to the API (not through the page): its HTTP status. */
const containersWith = async (token: string) =>
  (await fetch(`${fleet.url}/api/v1/containers?project=default`, { headers: { authorization: `Bearer ${token}` } })).status;
const stateOf = async (name: string) => (await fleet.admin.get<{ state: string }>(`/containers/${name}`)).state;
const until = (name: string, state: string) =>
  eventually(async () => ((await stateOf(name)) === state ? true : undefined), 30_000, `${name} ${state}`);
/** The names of the containers in the overview's "Recent failed jobs". */
const failedListed = () =>
  page
    .locator('article', { has: page.getByRole('heading', { name: 'Recent failed jobs' }) })
    .locator('li a')
    .allTextContents();

beforeAll(async () => {
  execFileSync(process.execPath, [resolve('packages/server/dashboard/build.mjs')], { stdio: 'pipe' });
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  hostDir = mkdtempSync(join(tmpdir(), 'nagaya-dash-admin-'));
  chmodSync(hostDir, 0o755);
  fleet = await startTestFleet({ slices: 8 });
  await fleet.admin.post('/containers', {
    name: 'env1',
    image: 'busybox',
    command: ['sleep', '3600'],
    env: { API_SECRET: 'hunter2-not-for-eyes', GREETING: 'hello-there' },
  });
  await until('env1', 'running');
  browser = await launchBrowser();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  watch = new Watch(page, 'admin');
  await page.goto(fleet.url);
  await signIn(page, ADMIN_TOKEN);
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
}, 90_000);

afterAll(async () => {
  if (watch) watch.closing = true;
  await browser?.close();
  await fleet?.stop();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
});

describe('the Tokens page, in Chromium', () => {
  it('creates a token whose secret, shown once, works against the API, and revokes it so that the API refuses it', async () => {
    await go(page, 'Tokens', 'Tokens');
    await page.locator('tr[data-token="admin"]').waitFor(); // the fleet's own admin token
    // tokens write no events, and the page does not poll for them: nothing is asked while nothing is done
    const asked: string[] = [];
    const onRequest = (req: { url(): string }) => {
      if (new URL(req.url()).pathname.startsWith('/api/v1/tokens')) asked.push(req.url());
    };
    page.on('request', onRequest);
    await new Promise((resolve) => setTimeout(resolve, 3000)); // one and a half of usePoll's default period
    page.off('request', onRequest);
    expect(asked).toEqual([]);
    await page.getByRole('button', { name: 'New token' }).click();
    const form = page.getByRole('form', { name: 'Create a token' });
    await form.getByLabel('Name').fill('ci-bot');
    await form.getByLabel('Role').selectOption('operator');
    await form.getByLabel('Project').selectOption('default');
    await form.getByLabel('Expires after').fill('2');
    await form.getByLabel('Unit').selectOption('days');
    await form.getByRole('button', { name: 'Create token' }).click();

    const secretBox = page.getByTestId('token-secret');
    const secret = await secretBox.inputValue();
    expect(secret.length).toBeGreaterThan(20);
    expect(await page.getByRole('alert').filter({ hasText: 'shown only this once' }).count()).toBe(1);
    await shot('01-token-secret');
    expect(await containersWith(secret)).toBe(200);

    const row = page.locator('tr[data-token="ci-bot"]');
    // name, role, project, created, expires, last used, state (the last cell holds the revoke button and its dialog)
    await expect
      .poll(async () => (await row.locator('td').allTextContents()).slice(0, 7))
      .toEqual(['ci-bot', 'operator', 'default', expect.stringMatching(/ago$/), 'in 2d', expect.stringMatching(/ago$|^never$/), 'active']);
    const { tokens } = await fleet.admin.get<{ tokens: TokenView[] }>('/tokens?all-projects=true');
    const made = tokens.find((t) => t.name === 'ci-bot')!;
    expect(Date.parse(made.expiresAt!) - Date.parse(made.createdAt)).toBe(2 * 86400_000);

    // the secret goes once dismissed, and nothing shows it again
    await page.getByRole('button', { name: 'I have stored it' }).click();
    expect(await secretBox.count()).toBe(0);
    expect(await page.content()).not.toContain(secret);

    await row.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog', { name: 'Revoke token ci-bot?' });
    await dialog.getByRole('button', { name: 'Revoke ci-bot' }).click();
    await expect.poll(() => row.getByTestId('token-state').textContent()).toBe('revoked');
    expect(await row.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    await eventually(async () => ((await containersWith(secret)) === 401 ? true : undefined), 5_000, 'the revoked token refused');
    await shot('02-token-revoked');
    watch.check();
  });

  it('gives a viewer no list and no controls (the API lists tokens to admins only)', async () => {
    const { token } = await fleet.admin.post<{ token: string }>('/tokens', { name: 'looker', role: 'viewer' });
    const viewer = await browser!.context.newPage();
    const viewerWatch = new Watch(viewer, 'viewer');
    try {
      await viewer.goto(fleet.url);
      await signIn(viewer, token);
      await viewer.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      await go(viewer, 'Tokens', 'Tokens');
      await expect.poll(() => viewer.getByRole('status').filter({ hasText: 'with an admin token' }).count()).toBe(1);
      expect(await viewer.getByRole('button', { name: 'New token' }).count()).toBe(0);
      expect(await viewer.locator('tr[data-token]').count()).toBe(0);
      viewerWatch.check();
    } finally {
      viewerWatch.closing = true;
      await viewer.close();
    }
  });
});

describe("the container's environment, in Chromium", () => {
  it('lists the names with every value hidden until its own show is clicked, and hides them again once the page is left', async () => {
    const value = (name: string) => page.locator(`tr[data-env="${name}"]`).getByTestId('env-value').textContent();
    const open = async () => {
      await go(page, 'Containers', 'Containers');
      await page.locator('tr[data-container="env1"]').getByRole('link', { name: 'env1' }).click();
      await page.getByRole('heading', { level: 1, name: 'Container env1' }).waitFor();
      await page.locator('tr[data-env="API_SECRET"]').waitFor();
    };
    await open();
    // the create's variables among the image's (PATH and the like), every value hidden
    const names = await page.locator('tr[data-env]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-env')));
    expect(names).toEqual(expect.arrayContaining(['API_SECRET', 'GREETING']));
    expect(new Set(await page.getByTestId('env-value').allTextContents())).toEqual(new Set(['••••']));
    expect(await page.content()).not.toContain('hunter2-not-for-eyes'); // not merely covered: not in the page

    await page.getByRole('button', { name: 'Show the value of API_SECRET' }).click();
    expect(await value('API_SECRET')).toBe('hunter2-not-for-eyes');
    expect(await value('GREETING')).toBe('••••'); // one at a time
    await shot('03-env-one-shown');

    await open();
    expect(await value('API_SECRET')).toBe('••••');
    expect(await page.content()).not.toContain('hunter2-not-for-eyes');
    watch.check();
  });
});

describe("the overview's recent failed jobs, in Chromium", () => {
  it('drops a failed launch once a start of the same container succeeds, and keeps a failure that stands', async () => {
    // both launches fail at once and for good: their host directory does not exist yet
    const missing = join(hostDir, 'later');
    for (const name of ['fixed1', 'broken1'])
      await fleet.admin.post('/containers', {
        name,
        image: 'busybox',
        command: ['sleep', '3600'],
        mounts: [{ hostPath: missing, path: '/m' }],
      });
    await until('fixed1', 'failed');
    await until('broken1', 'failed');

    await go(page, 'Overview', 'Overview');
    await expect.poll(failedListed).toEqual(expect.arrayContaining(['fixed1', 'broken1']));

    // the directory now exists, and fixed1 is started: same container, a later job that completes
    mkdirSync(missing);
    const start = await fleet.admin.post<{ job: { id: string } }>('/containers/fixed1/start');
    expect((await fleet.admin.waitForJob(start.job.id, 30_000)).state).toBe('completed');
    // broken1 still fails: its job stays listed, fixed1's goes (the page follows the events, no reload)
    await expect.poll(failedListed, { timeout: 5_000 }).toEqual(['broken1']);
    await shot('04-overview-failed-jobs');

    // the page's filter agrees with the API: fixed1's launch job is still failed there, and a later start completed
    const { jobs } = await fleet.admin.get<{ jobs: Array<{ kind: string; state: string }> }>('/jobs?container=fixed1');
    expect(jobs.map((j) => `${j.kind} ${j.state}`)).toEqual(['start completed', 'launch failed']);
    watch.check();
  });
});

describe('the Volumes page, in Chromium', () => {
  it('lists every project’s volumes with who mounts them, and deletes a free one after confirmation', async () => {
    await fleet.admin.post('/volumes', { name: 'scratch' });
    await fleet.admin.post('/volumes', { name: 'shared' });
    await fleet.admin.post('/containers', {
      name: 'vol1',
      image: 'busybox',
      command: ['sleep', '3600'],
      mounts: [{ volume: 'shared', path: '/data', readOnly: true }],
    });
    await go(page, 'Volumes', 'Volumes');
    const row = (name: string) => page.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) });
    await row('shared').waitFor();
    // every project in view: a Project column first; the delete buttons' column is named for screen readers alone
    const headers = page.getByRole('columnheader');
    expect(await headers.allTextContents()).toEqual(['Project', 'Name', 'Node', 'Used', 'Limit', 'Mounted by', 'Age', 'Actions']);
    expect(await page.locator('thead th:not([scope="col"])').count()).toBe(0);
    expect(await headers.last().locator('.sr-only').textContent()).toBe('Actions');
    // project, name, node, used, limit, mounted by (the container and its path, read-only), age
    const cells = (name: string) => row(name).getByRole('cell').allTextContents();
    expect((await cells('shared')).slice(0, 6)).toEqual([
      'default',
      'shared',
      expect.any(String),
      expect.any(String),
      '—',
      'vol1 /data (ro)',
    ]);
    expect(await row('shared').getByRole('link', { name: 'vol1' }).count()).toBe(1);
    expect(await row('shared').getByRole('button', { name: 'Delete' }).isDisabled()).toBe(true); // mounted: refused
    expect((await cells('scratch'))[5]).toBe('—');

    await row('scratch').getByRole('button', { name: 'Delete' }).click();
    await page
      .getByRole('dialog', { name: 'Delete volume scratch?' })
      .getByRole('button', { name: 'Delete scratch and its files' })
      .click();
    await expect.poll(() => row('scratch').count()).toBe(0);
    const { volumes } = await fleet.admin.get<{ volumes: Array<{ name: string }> }>('/volumes');
    expect(volumes.map((v) => v.name)).toEqual(['shared']);
    await shot('05-volumes');
    watch.check();
  });
});
