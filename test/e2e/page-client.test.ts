/**
 * The reference page on parley-chat/client, in Chromium: a message sent while the connection is
 * down shows "sending…", stays in the list, and goes out once on reconnect (stored once); a send the
 * server refuses shows "failed — retry" and the retry stores it; an answer that calls a tool shows
 * a compact line that opens to the tool's input and output, live and from history; a reply made
 * while the page was away is counted once; an attachment goes through the outbox; older messages
 * load on top without moving the view; search finds a message and jumps to it; a token the server
 * refuses signs out, saying why. axe-core checks the page with a pending send, a failed one and a
 * tool line on screen.
 *
 * Under CI=true a missing Chromium is a failure; locally the suite is skipped and the run's last line
 * says so.
 */
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatError, ScriptedProvider } from 'parley-chat';
import type { ParleyApp } from '../../examples/server/app.js';
import { requireService } from '../support/services.js';
import { launchChromium, signIn, startReferenceApp, watch, type ReferenceApp } from './page-harness.js';

const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const skipReason = await requireService('chromium');

describe.skipIf(skipReason !== null)('the reference page on parley-chat/client: outbox, tool calls, history', () => {
  let reference: ReferenceApp;
  let app: ParleyApp;
  let url: string;
  let browser: Browser;
  let page: Page;
  let sessionId: string;
  /** While true the server refuses new socket connections, as if it were down. */
  let refuseConnections = false;
  const problems = { dialogs: [] as string[], pageErrors: [] as string[] };
  const { pageErrors } = problems;

  beforeAll(async () => {
    reference = await startReferenceApp({ STREAM_DELAY: '20' }, { llmProvider: new ScriptedProvider({ tokensPerSecond: 0, reply: 'Unused: the tool answers.' }) });
    ({ app, url } = reference);
    app.io.of('/chat').use((_socket, next) => next(refuseConnections ? new Error('down for the test') : undefined));
    browser = await launchChromium();
    // axe goes in as a script of its own, which the page's CSP would refuse.
    page = watch(await (await browser.newContext({ viewport: { width: 1280, height: 860 }, bypassCSP: true })).newPage(), 'olive', problems);
  });

  afterAll(async () => {
    await browser?.close();
    await reference?.close();
  });

  const message = (text: string) => page.locator('#messages .msg', { has: page.locator('.msg-text', { hasText: text }) });
  const stored = async (text: string) => (await app.engine.getMessageHistory(sessionId, 'olive-outbox', { limit: 100 })).messages.filter((m) => m.content === text).length;

  /** The engine refuses the next message with a final error, as it would an invalid one. */
  function refuseNextSend(): void {
    const createMessage = app.engine.createMessage;
    app.engine.createMessage = async () => {
      app.engine.createMessage = createMessage;
      throw new ChatError('VALIDATION', 'Refused by the test.');
    };
  }

  async function type(text: string): Promise<void> {
    await page.getByTestId('composer-input').fill(text);
    await page.getByTestId('composer-input').press('Enter');
  }

  it('keeps a message sent while offline as "sending…", across a reload, and sends it once on reconnect', async () => {
    await signIn(page, url, 'Olive Outbox');
    await page.getByTestId('new-session').click();
    await page.getByTestId('new-session-title').fill('Offline test');
    await page.getByTestId('new-session-create').click();
    await expect.poll(() => page.locator('#room-title').textContent()).toBe('Offline test');
    sessionId = decodeURIComponent(new URL(page.url()).hash.slice(1));

    refuseConnections = true;
    for (const socket of app.io.of('/chat').sockets.values()) socket.conn.close(); // the network drops
    await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('offline');

    await type('Typed in a tunnel');
    const pending = message('Typed in a tunnel');
    await expect.poll(() => pending.getByTestId('sending').textContent()).toBe('sending…');
    expect(await pending.getAttribute('data-status')).toBe('pending');
    expect(await page.getByTestId('composer-input').inputValue()).toBe(''); // not put back in the box
    await page.waitForTimeout(1500); // a reconnect attempt or two, all refused
    expect(await stored('Typed in a tunnel')).toBe(0);

    // A reload while offline keeps it (the outbox is in localStorage), still waiting.
    await page.reload();
    await expect.poll(() => message('Typed in a tunnel').getByTestId('sending').count()).toBe(1);
    expect(await page.locator('#connection').getAttribute('data-state')).not.toBe('online');

    refuseConnections = false;
    await expect.poll(() => page.locator('#connection').getAttribute('data-state'), { timeout: 10_000 }).toBe('online');
    await expect.poll(() => message('Typed in a tunnel').getAttribute('data-status')).toBe('sent');
    expect(await message('Typed in a tunnel').getByTestId('sending').count()).toBe(0);
    expect(await message('Typed in a tunnel').count()).toBe(1);
    expect(await stored('Typed in a tunnel')).toBe(1);
  });

  it('shows a refused send as "failed — retry", and Retry stores it once', async () => {
    refuseNextSend();
    await type('Refused the first time');
    const failed = message('Refused the first time');
    await expect.poll(() => failed.getAttribute('data-status')).toBe('failed');
    expect(await failed.locator('.msg-outbox-failed').textContent()).toContain('failed (Refused by the test) — retry');
    expect(await stored('Refused the first time')).toBe(0);

    // A failed message does not hold up the next one.
    await type('Sent after the refusal');
    await expect.poll(() => message('Sent after the refusal').getAttribute('data-status')).toBe('sent');

    await failed.getByTestId('retry').click();
    await expect.poll(() => message('Refused the first time').getAttribute('data-status')).toBe('sent');
    expect(await message('Refused the first time').count()).toBe(1);
    expect(await stored('Refused the first time')).toBe(1);
  });

  it('shows a tool call inside the answer as a line that opens to its input and output, also after a reload', async () => {
    await page.getByTestId('composer-input').fill('Please roll a die');
    await page.getByTestId('ask').click();
    const answer = page.locator('#messages .msg-assistant').last();
    await expect.poll(() => answer.getAttribute('data-status'), { timeout: 10_000 }).toBe('completed');
    const tool = answer.locator('.tool-call');
    expect(await tool.count()).toBe(1);
    expect(await tool.locator('summary').textContent()).toBe('🔧 rollDice — done');
    expect(await tool.locator('.tool-output').isVisible()).toBe(false);
    await tool.locator('summary').click();
    expect(JSON.parse((await tool.locator('.tool-input').textContent())!)).toEqual({});
    const output = JSON.parse((await tool.locator('.tool-output').textContent())!);
    expect(output.rolls).toHaveLength(1);
    expect(output.total).toBe(output.rolls[0]);
    expect(await answer.locator('.msg-text').textContent()).toContain('rollDice');

    // The answer is stored with its parts: a fresh page shows the same line, from history.
    await page.reload();
    await expect.poll(() => page.locator('#messages .msg-assistant').last().locator('.tool-call summary').textContent()).toBe('🔧 rollDice — done');
  });

  it('counts a reply made while the page was away once, after a reload replays it', async () => {
    const parent = (await app.engine.getMessageHistory(sessionId, 'olive-outbox', { limit: 100 })).messages.find((m) => m.content === 'Sent after the refusal')!;
    const link = message('Sent after the refusal').locator('.thread-link');
    expect(await link.count()).toBe(0);
    refuseConnections = true;
    for (const socket of app.io.of('/chat').sockets.values()) socket.conn.close();
    await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('offline');
    // Written on the server while the page cannot hear it (from another device, say).
    await app.engine.createMessage({ sessionId, userId: 'olive-outbox', content: 'A reply from my phone', parentMessageId: parent.id });
    await page.reload(); // the latest page counts the reply, and the replay from the saved cursor repeats it
    refuseConnections = false;
    await expect.poll(() => page.locator('#connection').getAttribute('data-state'), { timeout: 10_000 }).toBe('online');
    await expect.poll(() => link.textContent()).toContain('1 reply');
    await page.waitForTimeout(500);
    expect(await link.textContent()).toContain('1 reply');
    await link.click();
    await expect.poll(() => page.getByTestId('thread-replies').textContent()).toContain('A reply from my phone');
    await page.locator('#panel-close').click();
  });

  it('sends a message with an attachment by URL through the outbox', async () => {
    await page.getByTestId('attach-toggle').click();
    await page.getByTestId('attach-url').fill('https://example.com/files/plan.pdf');
    await page.getByTestId('attach-add').click();
    await type('The plan, attached');
    const sent = message('The plan, attached');
    await expect.poll(() => sent.getAttribute('data-status')).toBe('sent');
    expect(await sent.locator('.attachment a').textContent()).toBe('plan.pdf');
    expect(await sent.locator('.attachment a').getAttribute('href')).toBe('https://example.com/files/plan.pdf');
    const [stored] = (await app.engine.getMessageHistory(sessionId, 'olive-outbox', { limit: 100 })).messages.filter((m) => m.content === 'The plan, attached');
    expect(stored?.attachments.map((a) => [a.fileName, a.mimeType])).toEqual([['plan.pdf', 'application/pdf']]);
    expect(await page.locator('#pending-attachments .attachment').count()).toBe(0);
  });

  it('loads older messages on top, leaving the reader where they were', async () => {
    const { id } = await app.engine.createSession({ title: 'Long history', createdBy: 'olive-outbox' });
    for (let i = 1; i <= 130; i++) await app.engine.createMessage({ sessionId: id, userId: 'olive-outbox', content: `Old ${String(i).padStart(3, '0')}` }, { trusted: true });
    await page.goto(`${url}/#${id}`);
    await page.reload(); // a fresh page loads the latest page only (this one held them all, live)
    await expect.poll(() => message('Old 130').count()).toBe(1);
    expect(await message('Old 001').count()).toBe(0);
    const timeline = page.getByTestId('timeline');
    await timeline.evaluate((el: any) => (el.scrollTop = 0));
    const anchor = message('Old 032'); // near the top (the oldest loaded loses its header: it continues the older ones)
    const top = await anchor.evaluate((el: any) => el.getBoundingClientRect().top);
    await page.getByTestId('load-older').click();
    await expect.poll(() => message('Old 001').count()).toBe(1);
    await expect.poll(() => page.getByTestId('load-older').isHidden()).toBe(true);
    // Your own older messages came in above: the view stays on what the reader was looking at.
    expect(Math.abs((await anchor.evaluate((el: any) => el.getBoundingClientRect().top)) - top)).toBeLessThan(5);
    await page.goto(`${url}/#${sessionId}`);
    await expect.poll(() => message('The plan, attached').count()).toBe(1);
  });

  it('searches the conversation and jumps to a hit', async () => {
    await page.getByTestId('search-input').fill('tunnel');
    await page.getByTestId('search-input').press('Enter');
    await expect.poll(() => page.getByTestId('panel').locator('.search-total').textContent()).toBe('1 match (whole words)');
    expect(await page.getByTestId('panel').locator('.search-hit mark').textContent()).toBe('tunnel');
    await page.getByTestId('panel').locator('.search-hit').click();
    await expect.poll(() => message('Typed in a tunnel').getAttribute('class')).toContain('msg-flash');
    await page.locator('#panel-close').click();
  });

  it('has no serious or critical WCAG 2 A/AA violation with a pending send, a failed one and a tool line', async () => {
    refuseNextSend();
    await type('Refused and left so');
    await expect.poll(() => message('Refused and left so').getAttribute('data-status')).toBe('failed');
    refuseConnections = true;
    for (const socket of app.io.of('/chat').sockets.values()) socket.conn.close();
    await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('offline');
    await type('Waiting for the network');
    await expect.poll(() => message('Waiting for the network').getByTestId('sending').count()).toBe(1);
    await page.addScriptTag({ path: AXE_SOURCE });
    const violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }> = await page.evaluate(async () => {
      const window = globalThis as any; // runs in the page; the test's tsconfig has no DOM types
      return (await window.axe.run(window.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } })).violations;
    });
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(serious).toEqual([]);
    refuseConnections = false;
  });

  it('signs out, saying why, when the server refuses its token', async () => {
    await page.evaluate(() => {
      const window = globalThis as any; // runs in the page
      const auth = JSON.parse(window.localStorage.getItem('parley.auth'));
      window.localStorage.setItem('parley.auth', JSON.stringify({ ...auth, token: 'not-a-token' }));
    });
    await page.reload();
    await expect.poll(() => page.locator('#signin').isVisible()).toBe(true);
    expect(await page.locator('#signin-error').textContent()).toContain('Your sign-in is no longer valid');
    expect(await page.evaluate("localStorage.getItem('parley.auth')")).toBeNull();
  });

  it('threw no page error', () => {
    expect(pageErrors).toEqual([]);
  });
});
