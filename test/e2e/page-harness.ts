/**
 * What the Chromium suites of the reference page share: the app on a throw-away SQLite directory,
 * the browser, pages that record what should never happen, and signing in as a demo user.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { createApp, type AppOptions, type ParleyApp } from '../../examples/server/app.js';
import { loadConfig } from '../../examples/server/config.js';
import { serviceUrls } from '../support/services.js';

export interface ReferenceApp {
  app: ParleyApp;
  url: string;
  /** Closes the app and deletes its data directory. */
  close(): Promise<void>;
}

/**
 * The reference app on a free port of 127.0.0.1, its SQLite file in a new temporary directory.
 * `env` is read as the app's environment; `options` go to `createApp` over it.
 */
export async function startReferenceApp(env: Record<string, string> = {}, options: Partial<AppOptions> = {}): Promise<ReferenceApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-page-'));
  try {
    const app = await createApp({ ...loadConfig({ PARLEY_DATA_DIR: dataDir, ...env }), port: 0, host: '127.0.0.1', ...options });
    const url = await app.listen();
    return {
      app,
      url,
      close: async () => {
        await app.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: serviceUrls.chromium(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** What a page did that it never should: a dialog (a script we did not write, or a modal we promised not to use) or an uncaught error. */
export interface PageProblems {
  dialogs: string[];
  pageErrors: string[];
}

/** Records `page`'s dialogs (dismissed) and uncaught errors under `who`, and shortens its waits to 8 s. */
export function watch(page: Page, who: string, problems: PageProblems): Page {
  page.on('dialog', (dialog) => {
    problems.dialogs.push(`${who}: ${dialog.type()} ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => problems.pageErrors.push(`${who}: ${error.message}`));
  page.setDefaultTimeout(8000);
  return page;
}

/** Signs `name` in through the demo form and waits for the socket to be online. */
export async function signIn(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.getByTestId('signin-name').fill(name);
  await page.getByTestId('signin-submit').click();
  await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('online');
}
