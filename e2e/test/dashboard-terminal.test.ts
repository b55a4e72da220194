import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ExecResult } from '@nagaya/contract';
import type { Page, WebSocket as PageSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, eventually, startTestFleet, type TestFleet } from '../../packages/server/test/support/test-server';
import { go, launchBrowser, signIn, Watch } from '../support/dashboard-browser';

/**
 * The container page's terminal in a real chromium against a real nagaya: xterm.js on the exec
 * WebSocket, authenticated by the token as a subprotocol (never in the URL), a shell on a tty that
 * runs what is typed, follows the panel's size, shows its exit, and dies when the page is left.
 */

const SHOTS = resolve('test-output/dashboard-terminal');

let fleet: TestFleet;
let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
let page: Page;
let watch: Watch;
/** Every WebSocket the page opened, with whether it has closed. */
const sockets: Array<{ url: string; closed: boolean }> = [];

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
/** What the terminal shows, a line per row (xterm's DOM renderer draws a div per row; its spaces may be no-break ones). */
const screen = async () =>
  (await page.getByTestId('terminal').locator('.xterm-rows > div').allTextContents()).join('\n').replace(/\u00a0/g, ' ');
const status = () => page.getByTestId('terminal-status').textContent();
/** The terminal's size as `stty size` prints it: rows, then columns. */
const cells = async () => {
  const terminal = page.getByTestId('terminal');
  return `${await terminal.getAttribute('data-rows')} ${await terminal.getAttribute('data-cols')}`;
};
/** Signs in and opens term1's page through the app's own links (a reload would abort the page's requests). */
async function openContainerPage(on: Page, token: string): Promise<void> {
  await on.goto(fleet.url);
  await signIn(on, token);
  await on.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  await go(on, 'Containers', 'Containers');
  await on.locator('tr[data-container="term1"]').getByRole('link', { name: 'term1' }).click();
  await on.getByRole('heading', { level: 1, name: 'Container term1' }).waitFor();
  await on.locator('.facts .badge', { hasText: 'running' }).waitFor();
}
async function typeLine(line: string): Promise<void> {
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

beforeAll(async () => {
  execFileSync(process.execPath, [resolve('packages/server/dashboard/build.mjs')], { stdio: 'pipe' });
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  fleet = await startTestFleet({ slices: 8 });
  await fleet.admin.post('/containers', { name: 'term1', image: 'busybox', command: ['sleep', '3600'] });
  await eventually(
    async () => ((await fleet.admin.get<{ state: string }>('/containers/term1')).state === 'running' ? true : undefined),
    30_000,
  );
  browser = await launchBrowser();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  watch = new Watch(page, 'admin');
  page.on('websocket', (ws: PageSocket) => {
    const entry = { url: ws.url(), closed: false };
    sockets.push(entry);
    ws.on('close', () => (entry.closed = true));
  });
}, 90_000);

afterAll(async () => {
  if (watch) watch.closing = true;
  await browser?.close();
  await fleet?.stop();
});

describe('the terminal on the container page, in Chromium', () => {
  it('runs id in a shell on a tty, follows the panel size, and shows the exit', async () => {
    await openContainerPage(page, ADMIN_TOKEN);

    await page.getByRole('button', { name: 'Open terminal' }).click();
    await expect.poll(status, { timeout: 10_000 }).toBe('connected');
    await expect.poll(screen, { timeout: 10_000 }).toMatch(/# *$/m); // root’s prompt
    await typeLine('id');
    await expect.poll(screen, { timeout: 10_000 }).toContain('uid=0(root) gid=0(root)');
    await shot('01-terminal-id');

    // the tty has the size the panel fits, and follows it when the page narrows
    await typeLine('echo "size=$(stty size)"');
    await expect.poll(screen).toContain(`size=${await cells()}`);
    const wide = await cells();
    await page.setViewportSize({ width: 800, height: 800 });
    await expect.poll(cells).not.toBe(wide);
    expect(Number((await cells()).split(' ')[1])).toBeLessThan(Number(wide.split(' ')[1]));
    await typeLine('echo "narrow=$(stty size)"');
    await expect.poll(screen).toContain(`narrow=${await cells()}`);
    await page.setViewportSize({ width: 1280, height: 800 });
    // the shell has taken the resize (its line editor redraws on SIGWINCH, and keys typed while
    // it does were seen to go astray under load) before the next line is typed
    await expect.poll(cells).toBe(wide);
    await typeLine('echo "wide-""again"');
    await expect.poll(screen).toContain('\nwide-again');

    await typeLine('exit 3');
    await expect.poll(status, { timeout: 10_000 }).toBe('exited with code 3');
    expect(await screen()).toContain('[exited with code 3]');
    await shot('02-terminal-exited');
    // one socket, closed with the session, and the token was never in its URL
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.url).toMatch(/\/api\/v1\/containers\/term1\/exec\?project=default$/);
    expect(sockets[0]!.url).not.toContain(ADMIN_TOKEN);
    await expect.poll(() => sockets[0]!.closed).toBe(true);
    watch.check();
  });

  it('kills the shell when the page is left', async () => {
    await page.getByRole('button', { name: 'New session' }).click();
    await expect.poll(status, { timeout: 10_000 }).toBe('connected');
    await expect.poll(screen, { timeout: 10_000 }).toMatch(/# *$/m);
    await typeLine('echo "shell=$$"');
    const pid = (await eventually(async () => /shell=(\d+)/.exec(await screen()) ?? undefined, 10_000))[1];
    const alive = async () =>
      (
        await fleet.admin.post<ExecResult>('/containers/term1/exec', {
          command: ['sh', '-c', `kill -0 ${pid} 2>/dev/null && echo alive || echo gone`],
        })
      ).stdout;
    expect(await alive()).toBe('alive\n');

    await go(page, 'Containers', 'Containers');
    await expect.poll(() => sockets[1]?.closed).toBe(true);
    await eventually(async () => ((await alive()) === 'gone\n' ? true : undefined), 10_000, 'the shell gone');
    watch.check();
  });

  it('gives a viewer no terminal', async () => {
    const { token } = await fleet.admin.post<{ token: string }>('/tokens', { name: 'viewer', role: 'viewer' });
    const viewer = await browser!.context.newPage();
    const viewerWatch = new Watch(viewer, 'viewer');
    try {
      await openContainerPage(viewer, token);
      expect(await viewer.getByRole('heading', { name: 'Terminal' }).count()).toBe(0);
      expect(await viewer.getByRole('button', { name: 'Open terminal' }).count()).toBe(0);
      viewerWatch.check();
    } finally {
      viewerWatch.closing = true;
      await viewer.close();
    }
  });
});
