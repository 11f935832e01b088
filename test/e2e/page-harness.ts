/** What the Chromium suites of the reference page share: the browser, and signing in as a demo user. */
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { serviceUrls } from '../support/services.js';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: serviceUrls.chromium(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Signs `name` in through the demo form and waits for the socket to be online. */
export async function signIn(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.getByTestId('signin-name').fill(name);
  await page.getByTestId('signin-submit').click();
  await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('online');
}
