import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ContainerView } from '@nagaya/contract';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../packages/server/test/support/test-server';
import { go, launchBrowser, signIn, Watch } from '../support/dashboard-browser';

/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a real
 * nagaya: API, worker, Postgres, Redis and containers. Any console error, page error, failed
 * request or HTTP error that a step did not ask for fails the test.
 */

const SHOTS = resolve('test-output/dashboard');
const ACTIVE_RGB = [0x25, 0x63, 0xeb];
const QUARANTINED_RGB = [0xf5, 0x9e, 0x0b];

interface Allocation {
  container: string | null;
  owner: string | null;
  state: string;
  kind: string;
  slot: number | null;
  uid: { start: number; count: number } | null;
  gid: { start: number; count: number } | null;
}
interface Container {
  id: string;
  project: string;
  name: string;
  state: string;
  pid: number | null;
  idmap: { uid: Array<{ nsId: number; hostId: number; count: number }> };
  limits: { memoryBytes?: number };
}

let fleet: TestFleet;
let context: BrowserContext;
let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
let admin: Page;
let adminWatch: Watch;

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function allocationOf(name: string): Promise<Allocation> {
  const { allocations } = await fleet.admin.get<{ allocations: Allocation[] }>('/allocations?pool=default');
  const a = allocations.find((x) => x.container === name && x.kind === 'isolated');
  expect(a, `allocation of ${name}`).toBeDefined();
  return a!;
}

/** Where the map draws `slot` (viewport coordinates of the cell's centre), from the canvas's own layout. */
async function cellCentre(page: Page, slot: number): Promise<{ x: number; y: number }> {
  const canvas = page.locator('canvas.slot-map');
  await canvas.waitFor();
  const layout = await canvas.evaluate((c: HTMLCanvasElement) => ({
    cols: Number(c.dataset.cols),
    cell: Number(c.dataset.cell),
    first: Number(c.dataset.firstSlot),
  }));
  const box = (await canvas.boundingBox())!;
  const index = slot - layout.first;
  return {
    x: box.x + (index % layout.cols) * layout.cell + layout.cell / 2,
    y: box.y + Math.floor(index / layout.cols) * layout.cell + layout.cell / 2,
  };
}

/** '#rrggbb' as [r, g, b]. */
function rgbOf(hex: string): number[] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

/**
 * The WCAG contrast ratio of an element's text against what is behind it, while the mouse is on
 * it (the background is the first opaque one from the element up).
 */
async function contrastOnHover(locator: Locator): Promise<number> {
  await locator.hover();
  return locator.evaluate((el) => {
    const rgba = (css: string) => (css.match(/[\d.]+/g) ?? []).map(Number);
    const luminance = ([r, g, b]: number[]) => {
      const lin = (c: number) => {
        const v = c / 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * lin(r!) + 0.7152 * lin(g!) + 0.0722 * lin(b!);
    };
    let back: number[] = [255, 255, 255];
    for (let node: Element | null = el; node; node = node.parentElement) {
      const bg = rgba(getComputedStyle(node).backgroundColor);
      if (bg.length === 3 || (bg.length === 4 && bg[3]! > 0.9)) {
        back = bg.slice(0, 3);
        break;
      }
    }
    const text = luminance(rgba(getComputedStyle(el).color).slice(0, 3));
    const behind = luminance(back);
    return (Math.max(text, behind) + 0.05) / (Math.min(text, behind) + 0.05);
  });
}

/** The colour the canvas drew at a viewport point. */
async function colourAt(page: Page, point: { x: number; y: number }): Promise<number[]> {
  return page.locator('canvas.slot-map').evaluate((c: HTMLCanvasElement, p) => {
    const rect = c.getBoundingClientRect();
    const scale = c.width / rect.width;
    const px = c.getContext('2d')!.getImageData(Math.floor((p.x - rect.left) * scale), Math.floor((p.y - rect.top) * scale), 1, 1).data;
    return [px[0]!, px[1]!, px[2]!];
  }, point);
}

beforeAll(async () => {
  // Always test the dashboard as the sources are now (esbuild takes well under a second).
  execFileSync(process.execPath, [resolve('packages/server/dashboard/build.mjs')], { stdio: 'pipe' });
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  fleet = await startTestFleet({
    slices: 48,
    quarantineSeconds: 3600,
    // Nothing here tests a node going offline. Under CI's load one stats read answered 503, most
    // likely NODE_OFFLINE: the in-process node's 500 ms heartbeat lapsing past the usual 3 s.
    env: { NAGAYA_NODE_OFFLINE_MS: '20000' },
  });
  // A pool the size of LXD's default (1,000,000,000 IDs = 15,258 slots) for the map to draw.
  await fleet.admin.post('/pools', {
    name: 'big',
    uid: { start: 1_000_000, count: 1_000_000_000 },
    gid: { start: 1_000_000, count: 1_000_000_000 },
  });
  browser = await launchBrowser();
  context = browser.context;
  admin = context.pages()[0] ?? (await context.newPage());
  adminWatch = new Watch(admin, 'admin');
}, 90_000);

afterAll(async () => {
  if (adminWatch) adminWatch.closing = true;
  await browser?.close();
  await fleet?.stop();
});

describe('the dashboard in Chromium', () => {
  it('refuses a wrong token with a clear error, then signs in; the token never reaches the URL', async () => {
    const page = await admin.goto(fleet.url);
    // the whole run works under the Content-Security-Policy (a violation is a console error, which fails the test)
    expect(page?.headers()['content-security-policy']).toMatch(/default-src 'self'/);
    await admin.getByRole('heading', { name: /nagaya/ }).waitFor();
    adminWatch.allow(401, /\/api\/v1\/whoami$/);
    await signIn(admin, 'not-a-token');
    const error = admin.getByRole('alert');
    await expect.poll(() => error.textContent()).toMatch(/not accepted/i);
    await shot(admin, '01-sign-in-wrong-token');

    await signIn(admin, 'test-admin-token-0123456789');
    await admin.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(await admin.getByTestId('role').textContent()).toBe('admin');
    expect(admin.url()).not.toContain('token');
    // An admin token of every project gets the project switcher, starting on every project.
    const switcher = admin.locator('header').getByLabel('Project');
    expect(await switcher.inputValue()).toBe('');
    await expect.poll(() => switcher.locator('option').allTextContents()).toEqual(['All projects', 'default']);
    // Sign out stays readable under the mouse (it used to turn light grey on light grey).
    expect(await contrastOnHover(admin.getByRole('button', { name: 'Sign out' }))).toBeGreaterThanOrEqual(4.5);
    adminWatch.check();
  });

  it("creates a container through the form, showing the API's validation messages beside the fields", async () => {
    await go(admin, 'Containers', 'Containers');
    await admin.getByRole('link', { name: 'New container' }).click();
    await admin.getByRole('heading', { level: 1, name: 'New container' }).waitFor();

    // First an invalid form: the API refuses it, and says why beside each field.
    adminWatch.allow(400, /\/api\/v1\/containers\?project=default$/);
    await admin.getByLabel('Name', { exact: true }).fill('Bad_Name');
    await admin.getByLabel('Memory (MiB)').fill('1');
    await admin.getByLabel('Size (IDs)').fill('1000');
    await admin.getByRole('button', { name: 'Add raw entry' }).click();
    await admin.getByLabel('Host ID').fill('0');
    await admin.getByLabel('Container ID').fill('0');
    await admin.getByRole('button', { name: 'Create and launch' }).click();
    const nameError = admin.locator('[data-field="name"] .field-error');
    await nameError.waitFor();
    expect(await nameError.textContent()).toMatch(/DNS label/);
    expect(await admin.locator('[data-field="limits.memoryBytes"] .field-error').textContent()).toMatch(/4194304|too small|>=/i);
    expect(await admin.locator('[data-field="idmap.size"] .field-error').textContent()).toMatch(/65536/);
    expect(await admin.locator('[data-field="idmap.raw.0.hostId"] .field-error').textContent()).toMatch(/host ID 0/);
    expect(await admin.getByLabel('Name', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await shot(admin, '03-create-form-validation');

    // A size the form cannot read is refused beside its field, before any request.
    await admin.getByLabel('Memory (MiB)').fill('lots');
    await admin.getByRole('button', { name: 'Create and launch' }).click();
    await expect
      .poll(() => admin.locator('[data-field="limits.memoryBytes"] .field-error').textContent())
      .toMatch(/a size with its unit: 512M/);

    await admin.getByRole('button', { name: 'Remove raw entry 1' }).click();
    await admin.getByLabel('Size (IDs)').fill('');
    await admin.getByLabel('Name', { exact: true }).fill('web1');
    await admin.getByLabel('Memory (MiB)').fill('64M'); // a size with a unit, as the CLI reads it
    await admin.getByLabel('Processes').fill('64');
    await admin
      .getByLabel('Command')
      .fill(`/bin/sh -c 'echo hello from web1; trap "exit 0" TERM; trap "echo followed line" USR1; while :; do sleep 1 & wait $!; done'`);
    await admin.getByRole('button', { name: 'Create and launch' }).click();
    await admin.getByRole('heading', { level: 1, name: 'Container web1' }).waitFor();
    expect(new URL(admin.url()).pathname).toBe('/containers/web1');

    // Live: the state changes on screen from pending to running without a reload.
    await admin.locator('.facts .badge', { hasText: 'running' }).waitFor({ timeout: 30_000 });
    const api = await fleet.admin.get<Container>('/containers/web1');
    expect(api.state).toBe('running');
    expect(api.limits.memoryBytes).toBe(64 * 1024 * 1024);
    // The map lines on the page are those the kernel has for the container's init.
    const kernel = readFileSync(`/proc/${api.pid}/uid_map`, 'utf8').trim().replace(/\s+/g, ' ');
    await expect.poll(async () => (await admin.getByTestId('uid-map').textContent())?.trim().replace(/\s+/g, ' ')).toBe(kernel);
    expect(await admin.getByTestId('pid').textContent()).toBe(String(api.pid));
    await expect.poll(() => admin.getByTestId('log').textContent(), { timeout: 10_000 }).toContain('hello from web1');
    // The log panel follows: a line the container prints shows without a request for it
    const logRequests: string[] = [];
    admin.on('request', (req) => void (/\/logs\b/.test(req.url()) && logRequests.push(req.url())));
    // (its shell prints the line on SIGUSR1: only the container's own processes can write its console)
    expect(await fleet.admin.post('/containers/web1/exec', { command: ['kill', '-USR1', '1'] })).toMatchObject({ exitCode: 0 });
    const printed = Date.now();
    await expect.poll(() => admin.getByTestId('log').textContent(), { timeout: 5000, interval: 50 }).toContain('followed line');
    expect(Date.now() - printed).toBeLessThan(1000);
    expect(logRequests).toEqual([]);
    // with Times ticked, each line starts with the time the node saw it
    await admin.getByLabel('Times (when the node saw each line)').check();
    await expect
      .poll(() => admin.getByTestId('log').textContent(), { timeout: 5000 })
      .toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hello from web1\n\d{4}-.+Z followed line\n/);
    adminWatch.check();
  });

  it('runs id in the container from the exec box', async () => {
    await admin.getByLabel('Command', { exact: true }).fill('id');
    await admin.getByRole('button', { name: 'Run' }).click();
    await admin.getByTestId('exec-result').waitFor();
    expect(await admin.getByTestId('exec-exit').textContent()).toBe('0');
    expect(await admin.getByTestId('exec-stdout').textContent()).toMatch(/^uid=0\b.*gid=0\b/);
    await shot(admin, '04-container-detail');
    adminWatch.check();
  });

  it('draws live memory and CPU sparklines of the running container, scaled to its memory limit', async () => {
    const memory = admin.getByTestId('usage-memory');
    await memory.waitFor();
    // read every 2 s: within a few seconds the line has several points
    await expect
      .poll(async () => ((await memory.locator('polyline').getAttribute('points')) ?? '').split(' ').filter(Boolean).length, {
        timeout: 20_000,
      })
      .toBeGreaterThanOrEqual(3);
    expect(await memory.locator('figcaption').textContent()).toContain('of 64 MiB');
    await expect.poll(async () => (await admin.getByTestId('usage-cpu').locator('polyline').count()) > 0, { timeout: 10_000 }).toBe(true);
    expect(Number((await admin.getByTestId('usage-pids').textContent())?.split(' ')[0])).toBeGreaterThanOrEqual(1);
    adminWatch.check();
  });

  it("finds the container's cell on the ID-space map with the host range the API reports", async () => {
    await go(admin, 'Containers', 'Containers');
    await admin.locator('tr[data-container="web1"] .badge', { hasText: 'running' }).waitFor();
    await shot(admin, '02-containers');
    const a = await allocationOf('web1');
    const uid = `[${a.uid!.start}, ${a.uid!.start + a.uid!.count})`;
    const gid = `[${a.gid!.start}, ${a.gid!.start + a.gid!.count})`;
    expect(await admin.locator('tr[data-container="web1"] td.mono').textContent()).toBe(uid);

    await go(admin, 'ID-space map', 'ID-space map');
    const centre = await cellCentre(admin, a.slot!);
    await admin.mouse.move(centre.x, centre.y);
    const tip = admin.getByRole('tooltip');
    await tip.waitFor();
    expect(await tip.getAttribute('id')).toBe('map-tip');
    const text = await tip.textContent();
    expect(text).toContain(`Slot ${a.slot}`);
    expect(text).toContain('Active');
    expect(text).toContain('container web1');
    expect(await tip.getByTestId('cell-uid').textContent()).toBe(uid);
    expect(await tip.getByTestId('cell-gid').textContent()).toBe(gid);
    expect(await tip.getByTestId('cell-project').textContent()).toContain('default');
    // With every project in view the map colours held slices by project, and the legend says whose colour is whose.
    const defaultEntry = admin.locator('.legend li[data-project="default"]');
    expect(await defaultEntry.locator('strong').textContent()).toBe('1');
    expect(await colourAt(admin, centre)).toEqual(rgbOf((await defaultEntry.getAttribute('data-colour'))!));
    await shot(admin, '05-id-map-hover');
    await admin.getByLabel('Colour by').selectOption('state');
    await expect.poll(() => colourAt(admin, centre)).toEqual(ACTIVE_RGB);
    expect(await admin.locator('.legend li[data-state="Active"] strong').textContent()).toBe('1');

    // Keyboard and search reach the same cell; a click opens the container.
    await admin.locator('canvas.slot-map').focus();
    await admin.keyboard.press('Home');
    await admin.keyboard.press('ArrowRight');
    const first = Number(await admin.locator('canvas.slot-map').getAttribute('data-first-slot'));
    await expect.poll(() => admin.locator('#slot-detail .cell-text').getAttribute('data-slot')).toBe(String(first + 1));
    await admin.getByLabel('Find a container').fill('web1');
    await admin.getByRole('button', { name: 'Show its slot' }).click();
    expect(await admin.locator('#slot-detail [data-testid="cell-uid"]').textContent()).toBe(uid);
    await admin.mouse.click(centre.x, centre.y);
    await admin.getByRole('heading', { level: 1, name: 'Container web1' }).waitFor();
    adminWatch.check();
  });

  it('stops and deletes it after confirmation; its cell turns quarantined', async () => {
    const a = await allocationOf('web1');
    await admin.getByRole('button', { name: 'Stop', exact: true }).click();
    const dialog = admin.getByRole('dialog', { name: 'Stop web1?' });
    await dialog.waitFor();
    await shot(admin, '06-confirm-stop');
    await dialog.getByRole('button', { name: 'Stop web1' }).click();
    await admin.locator('.facts .badge', { hasText: 'stopped' }).waitFor({ timeout: 20_000 });

    await admin.getByRole('button', { name: 'Delete', exact: true }).click();
    const confirm = admin.getByRole('dialog', { name: 'Delete web1?' }).getByRole('button', { name: 'Delete web1' });
    // The red confirm button stays readable under the mouse (its white text once sat on light grey).
    expect(await contrastOnHover(confirm)).toBeGreaterThanOrEqual(4.5);
    await confirm.click();
    await admin.getByRole('heading', { level: 1, name: 'Containers' }).waitFor();
    await eventually(
      async () => ((await admin.locator('tr[data-container="web1"]').count()) === 0 ? true : undefined),
      20_000,
      'web1 gone from the table',
    );

    await go(admin, 'ID-space map', 'ID-space map');
    const centre = await cellCentre(admin, a.slot!);
    await admin.mouse.move(centre.x, centre.y);
    const tip = admin.getByRole('tooltip');
    await expect.poll(() => tip.textContent(), { timeout: 10_000 }).toContain('Quarantined');
    expect(await tip.getByTestId('cell-uid').textContent()).toBe(`[${a.uid!.start}, ${a.uid!.start + a.uid!.count})`);
    expect(await colourAt(admin, centre)).toEqual(QUARANTINED_RGB);
    await shot(admin, '07-id-map-quarantined');
    adminWatch.check();
  });

  it('shows a state change within 200 ms of it, from the event stream, with no polling in the network log', async () => {
    await fleet.admin.post('/containers', {
      name: 'lag1',
      image: 'busybox',
      command: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'],
    });
    await eventually(
      async () => ((await fleet.admin.get<Container>('/containers/lag1')).state === 'running' ? true : undefined),
      30_000,
      'lag1 running',
    );
    await go(admin, 'Containers', 'Containers');
    const row = admin.locator('tr[data-container="lag1"]');
    await row.getByText('running').waitFor({ timeout: 10_000 });

    // Nothing changes for 5 s (two and a half of the old polling periods): nothing is asked.
    const asked: string[] = [];
    const onRequest = (req: { url(): string }) => {
      if (new URL(req.url()).pathname.startsWith('/api/v1/')) asked.push(req.url());
    };
    admin.on('request', onRequest);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    admin.off('request', onRequest);
    expect(asked).toEqual([]);

    // When the row's state badge first shows the stop, by the page's own clock (the same host
    // clock as Postgres's). The badge, not the row: the row also holds the closed confirm
    // dialogs of its actions, whose text says "stopped", so any mutation of the page would match.
    await row.evaluate((tr) => {
      const seen = window as unknown as { lagShownAt?: number };
      const observer = new MutationObserver(() => {
        if (/stopping|stopped/.test(tr.ownerDocument.querySelector('tr[data-container="lag1"] .badge')?.textContent ?? '')) {
          seen.lagShownAt = Date.now();
          observer.disconnect();
        }
      });
      observer.observe(tr.ownerDocument.body, { subtree: true, childList: true, characterData: true });
    });
    await fleet.admin.post('/containers/lag1/stop', {});
    const shownAt = await eventually(
      () => admin.evaluate(() => (window as unknown as { lagShownAt?: number }).lagShownAt),
      20_000,
      'the page showing the stop',
    );
    const { rows } = await fleet.db.pool.query<{ at_ms: string }>(
      `SELECT (extract(epoch FROM at) * 1000)::int8 AS at_ms FROM event
        WHERE type = 'container.state' AND container = 'lag1' AND payload ->> 'state' = 'stopping' ORDER BY id LIMIT 1`,
    );
    const lag = shownAt - Number(rows[0]!.at_ms);
    console.log(`state change to page: ${lag} ms`);
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(200);
    await fleet.admin.delete('/containers/lag1?force=true');
    await go(admin, 'ID-space map', 'ID-space map'); // where the next test starts
    adminWatch.check();
  });

  it('draws a 15,258-slot pool on the canvas quickly, and shows pools, jobs, nodes and the overview', async () => {
    await admin.getByLabel('Pool', { exact: true }).selectOption('big');
    const canvas = admin.locator('canvas.slot-map');
    await expect.poll(() => canvas.getAttribute('data-count')).toBe('15258');
    const drawMs = Number(await canvas.getAttribute('data-draw-ms'));
    console.info(`dashboard: drew the 15,258-slot pool in ${drawMs} ms`);
    expect(drawMs, 'milliseconds to draw 15,258 cells (a 2-core machine under test load)').toBeLessThan(400);
    await shot(admin, '08-id-map-big-pool');

    await go(admin, 'Pools', 'Pools');
    await admin.getByRole('heading', { level: 2, name: /big/ }).waitFor();
    await shot(admin, '09-pools');
    // A launch that cannot succeed: its failed job shows with its error, and can be retried.
    const { job } = await fleet.admin.post<{ job: { id: string } }>('/containers', {
      name: 'broken',
      image: 'busybox',
      command: ['/no/such/program'],
    });
    expect((await fleet.admin.waitForJob(job.id, 30_000)).state).toBe('failed');
    await go(admin, 'Jobs', 'Jobs');
    await admin.getByRole('button', { name: 'failed', exact: true }).click();
    const row = admin.locator(`tr[data-job="${job.id}"]`);
    await row.waitFor();
    expect(await row.locator('.error-text').textContent()).not.toBe('');
    await shot(admin, '10-jobs-failed');
    await row.getByRole('button', { name: 'Retry launch of broken' }).click();
    await admin.getByText('launch of broken queued again').waitFor();
    // The retried job runs again (the server decides what a retried launch of a failed container does).
    expect(['completed', 'failed']).toContain((await fleet.admin.waitForJob(job.id, 30_000)).state);
    await go(admin, 'Nodes', 'Nodes');
    await admin.locator('td .badge', { hasText: 'active' }).waitFor();
    await shot(admin, '11-nodes');
    await go(admin, 'Overview', 'Overview');
    await admin.getByRole('heading', { name: 'Pool occupancy' }).waitFor();
    await shot(admin, '00-overview');

    adminWatch.check();
  });

  it("lists runs, opens a run's output and cancels a running run after confirmation", async () => {
    const done = (
      await fleet.admin.post<{ run: { id: string } }>('/runs', { image: 'busybox', command: ['echo', 'from a run'], timeoutSeconds: 30 })
    ).run;
    await fleet.admin.get(`/runs/${done.id}/wait?timeoutSeconds=30`);
    const long = (
      await fleet.admin.post<{ run: { id: string } }>('/runs', { image: 'busybox', command: ['sleep', '60'], timeoutSeconds: 120 })
    ).run;
    await go(admin, 'Runs', 'Runs');
    const row = admin.locator(`tr[data-run="${done.id}"]`);
    await row.locator('.badge', { hasText: 'succeeded' }).waitFor();
    await row.getByRole('button', { name: done.id.slice(0, 8) }).click();
    await admin.locator('.run-output pre', { hasText: 'from a run' }).waitFor();
    const running = admin.locator(`tr[data-run="${long.id}"]`);
    await running.locator('.badge', { hasText: 'running' }).waitFor({ timeout: 20_000 });
    await running.getByRole('button', { name: 'Cancel' }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Cancel the run' }).click();
    await running.locator('.badge', { hasText: 'cancelled' }).waitFor({ timeout: 10_000 });
    await shot(admin, '12-runs');
    adminWatch.check();
  });

  it('gives a viewer every page and no mutating control', async () => {
    const { token } = await fleet.admin.post<{ token: string }>('/tokens', { name: 'v', role: 'viewer' });
    await fleet.admin.post('/containers', { name: 'keep1', image: 'busybox' });
    await eventually(
      async () => ((await fleet.admin.get<Container>('/containers/keep1')).state === 'running' ? true : undefined),
      30_000,
      'keep1 running',
    );

    const viewer = await context.newPage();
    const watch = new Watch(viewer, 'viewer');
    try {
      await viewer.goto(fleet.url);
      await signIn(viewer, token);
      await viewer.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      expect(await viewer.getByTestId('role').textContent()).toBe('viewer');
      // A token of one project sees its project named, and nothing to switch.
      expect(await viewer.locator('header').getByTestId('project').textContent()).toBe('default');
      expect(await viewer.locator('#project-switch').count()).toBe(0);
      const mutating = () =>
        viewer
          .getByRole('button', {
            name: /^(Start|Stop|Restart|Delete|Retry|Run|Create and launch|New project|Edit quotas|Import|Pull|Cancel|Remove)/,
          })
          .count();

      await go(viewer, 'Containers', 'Containers');
      await viewer.locator('tr[data-container="keep1"] .badge', { hasText: 'running' }).waitFor();
      expect(await viewer.getByRole('link', { name: 'New container' }).count()).toBe(0);
      expect(await mutating()).toBe(0);
      await shot(viewer, '14-viewer-containers');

      await viewer.getByRole('link', { name: 'keep1' }).click();
      await viewer.getByRole('heading', { level: 1, name: 'Container keep1' }).waitFor();
      await viewer.getByTestId('uid-map').waitFor();
      expect(await mutating()).toBe(0);
      expect(await viewer.getByRole('heading', { name: 'Exec' }).count()).toBe(0);
      await shot(viewer, '15-viewer-detail');

      for (const [link, heading] of [
        ['Images', 'Images'],
        ['ID-space map', 'ID-space map'],
        ['Pools', 'Pools'],
        ['Runs', 'Runs'],
        ['Jobs', 'Jobs'],
        ['Nodes', 'Nodes'],
        ['Projects', 'Projects'],
      ] as const) {
        await go(viewer, link, heading);
        await viewer.locator('.live').waitFor();
        expect(await mutating(), `mutating controls on ${link}`).toBe(0);
      }

      // Readable on a phone.
      await viewer.setViewportSize({ width: 390, height: 844 });
      await go(viewer, 'Overview', 'Overview');
      await viewer.getByRole('heading', { name: 'Recent failed jobs' }).waitFor();
      await shot(viewer, '16-phone-overview');
      await go(viewer, 'ID-space map', 'ID-space map');
      await viewer.locator('canvas.slot-map').waitFor();
      await shot(viewer, '17-phone-id-map');
      await go(viewer, 'Containers', 'Containers');
      await viewer.locator('tr[data-container="keep1"]').waitFor();
      await shot(viewer, '18-phone-containers');
      watch.check();
    } finally {
      watch.closing = true;
      await viewer.close();
    }
    adminWatch.check();
  });
  it('creates a project with a containers quota, works in it through the switcher, and shows its use, its quota and its slices', async () => {
    await go(admin, 'Projects', 'Projects');
    await admin.locator('article[data-project="default"]').waitFor();
    await admin.getByRole('button', { name: 'New project' }).click();
    const form = admin.getByRole('form', { name: 'New project' });

    // The form checks what it can before sending: a name that is no DNS label, a quota that is no count.
    await form.getByLabel('Name').fill('Team_A');
    await form.getByLabel('Containers').fill('1.5');
    await form.getByLabel('Image disk (MiB)').fill('2 floppies');
    await form.getByRole('button', { name: 'Create project' }).click();
    expect(await form.locator('[data-field="project-name"] .field-error').textContent()).toMatch(/DNS label/);
    expect(await form.locator('[data-field="new-quotas.containers"] .field-error').textContent()).toMatch(/whole number/);
    expect(await form.locator('[data-field="new-quotas.diskBytes"] .field-error').textContent()).toMatch(/512M, 2G/);
    await form.getByLabel('Image disk (MiB)').fill('');
    // What only the API knows comes back with its code.
    adminWatch.allow(409, /\/api\/v1\/projects$/);
    await form.getByLabel('Name').fill('default');
    await form.getByLabel('Containers').fill('2');
    await form.getByRole('button', { name: 'Create project' }).click();
    await expect.poll(() => form.locator('.banner.error').first().textContent()).toMatch(/already exists.*\(CONFLICT\)/);

    await form.getByLabel('Name').fill('team-a');
    await form.getByLabel('Description').fill('The A team: web front ends');
    await form.getByRole('button', { name: 'Create project' }).click();
    const card = admin.locator('article[data-project="team-a"]');
    await card.waitFor();
    expect(await card.locator('.description').textContent()).toBe('The A team: web front ends');
    expect(await card.getByTestId('raw-idmap').textContent()).toBe('not allowed');
    const api = await fleet.admin.get<{ quotas: Record<string, { limit: number | null; used: number }> }>('/projects/team-a');
    expect(api.quotas.containers).toEqual({ limit: 2, used: 0 });
    expect(api.quotas.memoryBytes?.limit).toBeNull();

    // The switcher offers the new project; choosing it scopes every page, and the choice survives a reload.
    const switcher = admin.locator('header').getByLabel('Project');
    await expect.poll(() => switcher.locator('option').allTextContents()).toEqual(['All projects', 'default', 'team-a']);
    await switcher.selectOption('team-a');
    adminWatch.closing = true; // a reload cancels the polls in flight
    await admin.reload();
    adminWatch.closing = false;
    await admin.getByRole('heading', { level: 1, name: 'Projects' }).waitFor();
    expect(await admin.locator('header').getByLabel('Project').inputValue()).toBe('team-a');
    await expect.poll(() => admin.locator('article[data-project="team-a"] .badge', { hasText: 'in view' }).count()).toBe(1);

    await go(admin, 'Containers', 'Containers');
    // team-a has no container yet: keep1 and broken are default's
    await admin.getByText('No containers yet.').waitFor();
    await admin.getByRole('link', { name: 'New container' }).click();
    await admin.getByRole('heading', { level: 1, name: 'New container' }).waitFor();
    expect(await admin.locator('main').getByLabel('Project').count()).toBe(0);
    // the built-in busybox image serves every project
    await admin.getByLabel('Name', { exact: true }).fill('api1');
    await admin.getByRole('button', { name: 'Create and launch' }).click();
    await admin.getByRole('heading', { level: 1, name: 'Container api1' }).waitFor();
    await admin.locator('.facts .badge', { hasText: 'running' }).waitFor({ timeout: 30_000 });
    const api1 = await fleet.admin.get<Container>('/containers/api1?project=team-a');
    expect(api1.project).toBe('team-a');
    await expect(fleet.admin.get('/containers/api1')).rejects.toMatchObject({ code: 'NOT_FOUND' });

    // Its quota: one container of two, a bar where a limit exists and none where there is no limit.
    await go(admin, 'Projects', 'Projects');
    const containers = card.locator('tr[data-quota="containers"] .quota-use');
    await expect.poll(() => containers.getAttribute('data-used')).toBe('1');
    expect(await containers.getAttribute('data-limit')).toBe('2');
    expect(await containers.getAttribute('data-level')).toBe('ok');
    expect(await containers.locator('.quota-text').textContent()).toBe('1 of 2');
    expect(await card.locator('tr[data-quota="memoryBytes"] .quota-bar').count()).toBe(0);
    expect(await card.locator('tr[data-quota="memoryBytes"]').textContent()).toContain('no limit');
    await shot(admin, '19-projects');

    // A quota lowered below use is allowed, and shows in red.
    await card.getByRole('button', { name: 'Edit quotas of team-a' }).click();
    await card.getByLabel('Containers').fill('0');
    await card.getByRole('button', { name: 'Save quotas' }).click();
    await expect.poll(() => containers.getAttribute('data-level')).toBe('over');
    expect((await fleet.admin.get<typeof api>('/projects/team-a')).quotas.containers).toEqual({ limit: 0, used: 1 });
    expect(await card.locator('.badge.over-quota').count()).toBe(1);
    expect(await containers.locator('.quota-fill').evaluate((el) => getComputedStyle(el).backgroundColor)).toBe('rgb(185, 28, 28)');
    await shot(admin, '20-projects-over-quota');

    // Back to every project: the list names each container's project, and the map colours each project's slices.
    await admin.locator('header').getByLabel('Project').selectOption('');
    await go(admin, 'Containers', 'Containers');
    await admin.locator('tr[data-container="api1"]').waitFor();
    expect(await admin.locator('tr[data-container="api1"] [data-testid="project"]').textContent()).toBe('team-a');
    expect(await admin.locator('tr[data-container="keep1"] [data-testid="project"]').textContent()).toBe('default');
    await shot(admin, '21-containers-all-projects');

    const slice = await allocationOf('api1');
    const keep = await allocationOf('keep1');
    await go(admin, 'ID-space map', 'ID-space map');
    const teamA = admin.locator('.legend li[data-project="team-a"]');
    await teamA.waitFor();
    expect(await teamA.textContent()).toMatch(/project team-a\s*1/);
    expect(await admin.locator('.legend li[data-project="default"]').textContent()).toMatch(/project default\s*1/);
    const teamColour = rgbOf((await teamA.getAttribute('data-colour'))!);
    const defaultColour = rgbOf((await admin.locator('.legend li[data-project="default"]').getAttribute('data-colour'))!);
    expect(teamColour).not.toEqual(defaultColour);
    const apiCell = await cellCentre(admin, slice.slot!);
    const keepCell = await cellCentre(admin, keep.slot!);
    expect(await colourAt(admin, apiCell)).toEqual(teamColour);
    expect(await colourAt(admin, keepCell)).toEqual(defaultColour);
    // The filter fades what other projects hold (it is not free, so it is not hidden).
    await admin.getByLabel('Show project').selectOption('team-a');
    await expect.poll(() => colourAt(admin, keepCell)).not.toEqual(defaultColour);
    const fadedDefault = await colourAt(admin, keepCell);
    expect(fadedDefault.every((c, i) => c >= defaultColour[i]!)).toBe(true);
    expect(await colourAt(admin, apiCell)).toEqual(teamColour);
    await shot(admin, '22-id-map-projects');
    adminWatch.check();
  });

  it('creates a container with restart policy always and an init from the form, and shows its restart after a kill on its page', async () => {
    await go(admin, 'Containers', 'Containers');
    await admin.getByRole('link', { name: 'New container' }).click();
    await admin.getByRole('heading', { level: 1, name: 'New container' }).waitFor();
    await admin.locator('main').getByLabel('Project').selectOption('default');
    await admin.getByLabel('Name', { exact: true }).fill('svc1');
    // max retries goes with on-failure only: the field comes and goes with the policy
    const policy = admin.getByLabel('Restart policy');
    await policy.selectOption('on-failure');
    await admin.getByLabel('Max retries').waitFor();
    await policy.selectOption('always');
    expect(await admin.getByLabel('Max retries').count()).toBe(0);
    await admin.getByLabel('Init', { exact: true }).check();
    await admin.getByLabel('Stop signal').selectOption('SIGINT');
    await admin.getByLabel('Stop timeout (s)').fill('3');
    await shot(admin, '23-create-form-lifecycle');
    await admin.getByRole('button', { name: 'Create and launch' }).click();
    await admin.getByRole('heading', { level: 1, name: 'Container svc1' }).waitFor();
    await admin.locator('.facts .badge', { hasText: 'running' }).waitFor({ timeout: 30_000 });

    const first = await fleet.admin.get<ContainerView>('/containers/svc1');
    expect(first).toMatchObject({ restartPolicy: { name: 'always' }, init: true, stopSignal: 'SIGINT', stopTimeoutSeconds: 3 });
    expect(await admin.getByTestId('restart-policy').textContent()).toBe('always 0 restarts by it');
    expect(await admin.getByTestId('last-exit').textContent()).toBe('—');
    expect(await admin.getByTestId('init').textContent()).toMatch(/^tini as PID 1/);
    expect(await admin.getByTestId('stop').textContent()).toBe('SIGINT, then SIGKILL after 3 s');
    // the init the page promises is the one the kernel runs as the container's PID 1
    expect(readFileSync(`/proc/${first.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('/sbin/nagaya-init');

    // killed from outside, it comes back by its policy: the page counts the restart and says how the run ended
    process.kill(first.pid!, 'SIGKILL');
    await expect.poll(() => admin.getByTestId('restart-count').textContent(), { timeout: 15_000 }).toBe(' 1 restart by it');
    await expect.poll(() => admin.getByTestId('last-exit').textContent()).toMatch(/signal SIGKILL/);
    await admin.locator('.facts .badge', { hasText: 'running' }).waitFor({ timeout: 15_000 });
    const again = await fleet.admin.get<ContainerView>('/containers/svc1');
    expect(again.pid).not.toBe(first.pid);
    expect(again.idmap.uid).toEqual(first.idmap.uid);
    await expect.poll(() => admin.getByTestId('pid').textContent()).toBe(String(again.pid));
    await shot(admin, '24-container-restarted');

    // the state between the runs has its own colour, in the overview's counts and wherever a badge is drawn
    await go(admin, 'Overview', 'Overview');
    const restarting = admin.locator('.state-counts .badge.state-restarting');
    expect(await restarting.textContent()).toBe('restarting');
    const colours = async (cls: string) =>
      admin.locator(`.state-counts .badge.state-${cls}`).evaluate((el) => getComputedStyle(el).backgroundColor);
    const others = await Promise.all(['running', 'pending', 'stopping', 'stopped', 'failed'].map(colours));
    expect(others).not.toContain(await colours('restarting'));

    await go(admin, 'Containers', 'Containers');
    await admin.getByRole('link', { name: 'svc1' }).click();
    await admin.getByRole('heading', { level: 1, name: 'Container svc1' }).waitFor();
    await admin.getByRole('button', { name: 'Delete', exact: true }).click();
    await admin.getByRole('dialog', { name: 'Delete svc1?' }).getByRole('button', { name: 'Delete svc1' }).click();
    await admin.getByRole('heading', { level: 1, name: 'Containers' }).waitFor();
    await eventually(
      async () => ((await admin.locator('tr[data-container="svc1"]').count()) === 0 ? true : undefined),
      20_000,
      'svc1 gone from the table',
    );
    adminWatch.check();
  });
});
