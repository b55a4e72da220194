// The dashboard in a real browser (Debian's chromium, driven by playwright-core): the browser,
// a watch that fails a test on any error it did not ask for, and the steps every dashboard test takes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
/** The API routes that act in a project: every request the dashboard makes to them must say which (or all-projects=true). */
const PROJECT_SCOPED = /^\/api\/v1\/(containers|images|jobs|allocations|tokens)(\/|$)/;

/** HTTP errors a step expects (status and URL), each absorbing one response and its console line. */
interface Allowance {
  status: number;
  url: RegExp;
  responses: number;
  consoles: number;
}

/** Watches a page for console errors, page errors, failed requests and unexpected HTTP errors. */
export class Watch {
  readonly problems: string[] = [];
  private readonly allowances: Allowance[] = [];
  closing = false;

  constructor(
    readonly page: Page,
    readonly label: string,
  ) {
    // The usage graph reads stats every 2 s while the page shows a running container: a read that
    // crosses a stop or a restart is answered 409, and the graph stops until the page sees it run.
    this.allow(409, /\/api\/v1\/containers\/[^/?]+\/stats\b/, Number.POSITIVE_INFINITY);
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const status = /status of (\d{3})/.exec(msg.text());
      const url = msg.location().url ?? '';
      if (status && this.take(Number(status[1]), url, 'consoles')) return;
      this.problems.push(`${label} console error: ${msg.text()} (${url})`);
    });
    page.on('pageerror', (err) => this.problems.push(`${label} page error: ${err.message}`));
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (PROJECT_SCOPED.test(url.pathname) && !url.searchParams.has('project') && url.searchParams.get('all-projects') !== 'true')
        this.problems.push(`${label} asked ${req.method()} ${url.pathname}${url.search} without a project`);
    });
    page.on('requestfailed', (req) => {
      // a followed log is a stream the page stops when it leaves the container (or the container stops)
      const streamLeft = /\/logs\?(.*&)?follow=1\b/.test(req.url()) && /ERR_ABORTED/.test(req.failure()?.errorText ?? '');
      if (!this.closing && !streamLeft)
        this.problems.push(`${label} request failed: ${req.method()} ${req.url()} ${req.failure()?.errorText ?? ''}`);
    });
    page.on('response', (res) => {
      if (res.status() < 400) return;
      if (this.take(res.status(), res.url(), 'responses')) return;
      const problem = `${label} HTTP ${res.status()} for ${res.request().method()} ${res.url()}`;
      const at = this.problems.push(problem) - 1;
      // the error's code and message say which of several causes answered (a 503 may be the
      // node's heartbeat or its silence); read after the fact, so a check may still see it without
      void res.text().then(
        (body) => (this.problems[at] = `${problem}: ${body.slice(0, 400)}`),
        () => undefined,
      );
    });
  }

  /** Lets `count` responses with this status and URL through (a step that provokes them on purpose). */
  allow(status: number, url: RegExp, count = 1): void {
    this.allowances.push({ status, url, responses: count, consoles: count });
  }

  private take(status: number, url: string, what: 'responses' | 'consoles'): boolean {
    const a = this.allowances.find((x) => x.status === status && x.url.test(url) && x[what] > 0);
    if (!a) return false;
    a[what]--;
    return true;
  }

  check(): void {
    expect(this.problems, this.problems.join('\n')).toEqual([]);
  }
}

/** A headless chromium with a profile of its own; `close` ends it and removes the profile. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'nagaya-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
    timeout: 30_000,
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Clicks a main navigation link and waits for its page heading. */
export async function go(page: Page, link: string, heading: string | RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
