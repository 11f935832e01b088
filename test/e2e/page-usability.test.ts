/**
 * The reference page for the people using it, in Chromium: message bodies rendered as Markdown with
 * nothing of a message's HTML live, code blocks with a working copy button, message actions by touch
 * on a phone-sized screen and by keyboard (↑ edits your last message, Esc closes), the "New messages"
 * divider, the answer's figures behind a Details toggle, and no serious or critical WCAG 2 A/AA
 * violation (axe-core) on desktop and phone widths.
 *
 * Under CI=true a missing Chromium is a failure; locally the suite is skipped and the run's last line
 * says so.
 */
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedProvider } from 'parley-chat';
import type { ParleyApp } from '../../examples/server/app.js';
import { requireService } from '../support/services.js';
import { launchChromium, signIn, startReferenceApp, watch, type ReferenceApp } from './page-harness.js';

const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const MARKDOWN = [
  'Plan: **bold** and `inline`, see [the docs](https://example.com/docs) or [this](javascript:alert(1)).',
  '<img src=x onerror=alert(1)> ![pixel](https://tracker.example/p.png)',
  '```js',
  'const answer = 42;',
  '```',
].join('\n');
const ANSWER = 'Here is the fix:\n\n```ts\nconsole.log("hi");\n```\n\n- first\n- second';

const skipReason = await requireService('chromium');

describe.skipIf(skipReason !== null)('the reference page: Markdown, touch, keyboard, accessibility', () => {
  let reference: ReferenceApp;
  let app: ParleyApp;
  let url: string;
  let browser: Browser;
  let desktop: BrowserContext;
  let phone: BrowserContext;
  let alice: Page;
  let bob: Page;
  const problems = { dialogs: [] as string[], pageErrors: [] as string[] };
  const { dialogs, pageErrors } = problems;

  beforeAll(async () => {
    reference = await startReferenceApp({ STREAM_DELAY: '20' }, { llmProvider: new ScriptedProvider({ tokensPerSecond: 0, reply: ANSWER }) });
    ({ app, url } = reference);
    browser = await launchChromium();
    desktop = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    phone = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    alice = await watched(desktop, 'alice');
    bob = await watched(phone, 'bob');
  });

  afterAll(async () => {
    await browser?.close();
    await reference?.close();
  });

  async function watched(context: BrowserContext, who: string): Promise<Page> {
    return watch(await context.newPage(), who, problems);
  }

  const message = (page: Page, text: string) => page.locator('#messages .msg', { has: page.locator('.msg-text', { hasText: text }) });

  async function send(page: Page, text: string): Promise<void> {
    const before = await page.locator('#messages .msg-mine').count();
    await page.getByTestId('composer-input').fill(text);
    await page.getByTestId('composer-input').press('Enter');
    await expect.poll(() => page.locator('#messages .msg-mine').count()).toBe(before + 1);
  }

  /** Serious and critical WCAG 2 A/AA violations on the page as it is now. */
  async function axeViolations(context: BrowserContext, page: Page): Promise<string[]> {
    // axe runs as a script of its own; the page's CSP allows only its own scripts, so it goes in
    // through a second tab of the same page with CSP bypassed.
    const copy = await (await browser.newContext({ ...contextOptions(context), bypassCSP: true, storageState: await context.storageState() })).newPage();
    await copy.goto(page.url());
    await expect.poll(() => copy.locator('#connection').getAttribute('data-state')).toBe('online');
    await expect.poll(() => copy.locator('#messages .msg').count()).toBeGreaterThan(0);
    await copy.addScriptTag({ path: AXE_SOURCE });
    const violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> = await copy.evaluate(async () => {
      const page = globalThis as any; // runs in the page; the test's tsconfig has no DOM types
      const result = await page.axe.run(page.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return result.violations;
    });
    await copy.context().close();
    return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }

  const contextOptions = (context: BrowserContext) =>
    context === phone ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true } : { viewport: { width: 1280, height: 860 } };

  it('shows the "New messages" divider before the first message a member had not read', async () => {
    await signIn(alice, url, 'Alice Example');
    await alice.getByTestId('new-session').click();
    await alice.getByTestId('new-session-title').fill('Design review');
    await alice.getByTestId('new-session-members').fill('bob-builder');
    await alice.getByTestId('new-session-create').click();
    await expect.poll(() => alice.locator('#room-title').textContent()).toBe('Design review');
    await send(alice, 'Before Bob arrives');

    await signIn(bob, url, 'Bob Builder');
    // Bob reads the first message; the next two are new to him.
    await bob.locator('#toggle-sidebar').tap();
    await bob.locator('.session', { hasText: 'Design review' }).tap();
    await expect.poll(() => message(bob, 'Before Bob arrives').count()).toBe(1);
    await expect.poll(async () => (await app.engine.listSessions('bob-builder'))[0]?.unreadCount).toBe(0);
    await bob.goto(url); // still signed in, with no conversation open
    await expect.poll(() => bob.locator('#connection').getAttribute('data-state')).toBe('online');
    await send(alice, 'First new one');
    await send(alice, 'Second new one');
    await expect.poll(() => bob.locator('.session', { hasText: 'Design review' }).locator('.badge').textContent()).toBe('2');

    await bob.locator('#toggle-sidebar').tap();
    await bob.locator('.session', { hasText: 'Design review' }).tap();
    const divider = bob.getByTestId('new-messages');
    await expect.poll(() => divider.count()).toBe(1);
    // The divider sits right before the first unread message.
    const next = await divider.evaluate((el: any) => el.nextElementSibling?.querySelector('.msg-text')?.textContent);
    expect(next).toBe('First new one');
  });

  it('renders Markdown, keeps a message’s HTML inert, and links open safely', async () => {
    await send(alice, MARKDOWN);
    for (const page of [alice, bob]) {
      const body = message(page, 'Plan:').locator('.msg-text');
      await expect.poll(() => body.count()).toBe(1);
      expect(await body.locator('strong').textContent()).toBe('bold');
      expect(await body.locator('p code').first().textContent()).toBe('inline');
      const docs = body.locator('a', { hasText: 'the docs' });
      expect(await docs.getAttribute('href')).toBe('https://example.com/docs');
      expect(await docs.getAttribute('rel')).toBe('noopener noreferrer');
      expect(await docs.getAttribute('target')).toBe('_blank');
      expect(await body.locator('a', { hasText: 'this' }).getAttribute('href')).toBeNull(); // javascript: dropped
      // The raw tag is shown as the text it is; the Markdown image became a link; no <img> anywhere.
      expect(await body.textContent()).toContain('<img src=x onerror=alert(1)>');
      expect(await body.locator('a', { hasText: 'pixel' }).getAttribute('href')).toBe('https://tracker.example/p.png');
      expect(await page.locator('#messages img').count()).toBe(0);
      expect(await body.locator('pre code').textContent()).toBe('const answer = 42;\n');
      expect(await body.locator('.code-copy').count()).toBe(1);
    }
    await alice.waitForTimeout(200);
    expect(dialogs).toEqual([]);
  });

  it('copies a code block with its button', async () => {
    await desktop.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    const button = message(alice, 'Plan:').locator('.code-copy');
    await button.click();
    await expect.poll(() => button.textContent()).toBe('Copied');
    expect(await alice.evaluate('navigator.clipboard.readText()')).toBe('const answer = 42;\n');
  });

  it('renders the assistant’s answer as Markdown, its figures behind Details', async () => {
    await alice.getByTestId('composer-input').fill('How do I log?');
    await alice.getByTestId('ask').click();
    const answer = alice.locator('#messages .msg-assistant').last();
    await expect.poll(() => answer.getAttribute('data-status'), { timeout: 10_000 }).toBe('completed');
    expect(await answer.locator('.msg-text pre code').textContent()).toBe('console.log("hi");\n');
    expect(await answer.locator('.msg-text li').allTextContents()).toEqual(['first', 'second']);
    const details = answer.locator('.stream-details');
    expect(await details.locator('.stream-tokens').isVisible()).toBe(false);
    await details.locator('summary').click();
    expect(await details.locator('.stream-tokens').isVisible()).toBe(true);
    expect(await details.locator('.stream-tokens').textContent()).toMatch(/^\d+ tokens$/);
  });

  it('on a phone, a tap on a message shows its actions, and they work', async () => {
    const target = message(bob, 'Second new one');
    expect(await target.locator('.msg-actions').isVisible()).toBe(false);
    await target.locator('.msg-text').tap();
    await expect.poll(() => target.locator('.msg-actions').isVisible()).toBe(true);
    expect(await target.locator('.reaction').count()).toBe(0); // the tap itself pressed nothing
    await target.locator('.action-emoji[data-emoji="🎉"]').tap();
    await expect.poll(() => message(alice, 'Second new one').locator('.reaction[data-emoji="🎉"] .reaction-count').textContent()).toBe('1');
  });

  it('by keyboard: Tab reaches a message’s actions, ↑ edits your last message, Esc closes the panel', async () => {
    // ↑ in the empty composer edits the newest message of your own.
    await alice.getByTestId('composer-input').focus();
    await alice.getByTestId('composer-input').press('ArrowUp');
    const edit = alice.locator('.edit-input');
    await expect.poll(() => edit.evaluate((el: any) => el === el.ownerDocument.activeElement)).toBe(true);
    expect(await edit.inputValue()).toBe('How do I log?');
    await edit.fill('How do I log in Node?');
    await edit.press('Enter');
    await expect.poll(() => message(bob, 'How do I log in Node?').count()).toBe(1);

    // A focused message shows its toolbar; its buttons are the next Tab stops.
    const focused = message(alice, 'First new one'); // no reaction: its toolbar is the next stop
    await focused.focus();
    await expect.poll(() => focused.locator('.msg-actions').isVisible()).toBe(true);
    await alice.keyboard.press('Tab');
    expect(await alice.evaluate("document.activeElement?.closest('.msg-actions') !== null")).toBe(true);

    // Esc closes the thread panel and puts the focus back in the composer.
    await focused.locator('.action-reply').click();
    await expect.poll(() => alice.getByTestId('panel').isVisible()).toBe(true);
    await alice.keyboard.press('Escape');
    await expect.poll(() => alice.getByTestId('panel').isVisible()).toBe(false);
    expect(await alice.evaluate('document.activeElement?.id')).toBe('composer-input');
  });

  it('has no serious or critical WCAG 2 A/AA violation, on desktop and on a phone', async () => {
    expect(await axeViolations(desktop, alice)).toEqual([]);
    expect(await axeViolations(phone, bob)).toEqual([]);
  });

  it('ran no script of a message and threw no page error', () => {
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
