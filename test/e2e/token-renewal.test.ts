/**
 * The reference page keeps its demo token fresh on a live socket: with tokens that live 3 s (and the
 * authenticator's 5 s clock tolerance), a page left open well past its first token's expiry still
 * sends over its socket and reads over REST, without signing out or reconnecting.
 *
 * Under CI=true a missing Chromium is a failure; locally the suite is skipped and the run's last line
 * says so.
 */
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParleyApp } from '../../examples/server/app.js';
import { requireService } from '../support/services.js';
import { launchChromium, signIn, startReferenceApp, type ReferenceApp } from './page-harness.js';

const skipReason = await requireService('chromium');

describe.skipIf(skipReason !== null)('the reference page renews its token while connected', () => {
  let reference: ReferenceApp;
  let app: ParleyApp;
  let url: string;
  let browser: Browser;
  let page: Page;
  const connects: string[] = [];

  beforeAll(async () => {
    reference = await startReferenceApp({}, { demoTokenTtl: '3s' });
    ({ app, url } = reference);
    app.io.of('/chat').on('connection', (socket) => connects.push(socket.id));
    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(8000);
  });

  afterAll(async () => {
    await browser?.close();
    await reference?.close();
  });

  it('past the first token’s expiry, a send still goes through the same socket and REST still answers', async () => {
    await signIn(page, url, 'Renata');
    const firstToken = (await page.evaluate("JSON.parse(localStorage.getItem('parley.auth')).token")) as string;

    await page.getByTestId('new-session').click();
    await page.getByTestId('new-session-title').fill('Long day');
    await page.getByTestId('new-session-create').click();
    await expect.poll(() => page.locator('#room-title').textContent()).toBe('Long day');

    // The first token is refused from 3 s + 5 s tolerance on; wait past that.
    await page.waitForTimeout(9_500);
    await page.getByTestId('composer-input').fill('still here');
    await page.getByTestId('composer-input').press('Enter');
    await expect.poll(() => page.locator('#messages .msg-text', { hasText: 'still here' }).count()).toBe(1);

    const sessions = await app.engine.listSessions('renata');
    const { messages } = await app.engine.getMessageHistory(sessions[0]!.id, 'renata', { limit: 10 });
    expect(messages.map((m) => m.content)).toEqual(['still here']);
    expect(connects).toHaveLength(1); // renewed on the live socket: no reconnect, no sign-out

    const token = (await page.evaluate("JSON.parse(localStorage.getItem('parley.auth')).token")) as string;
    expect(token).not.toBe(firstToken);
    const status = await page.evaluate(async (t) => (await fetch('/api/chat/sessions', { headers: { authorization: `Bearer ${t}` } })).status, token);
    expect(status).toBe(200);
    expect(await page.locator('#signin').isHidden()).toBe(true);
  }, 40_000);
});
