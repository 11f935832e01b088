/**
 * Regenerates `examples/server/screenshot.png`, the picture of the page in the README:
 *
 *   npx tsx examples/server/make-screenshot.ts [output.png]
 *
 * Starts the app on a free port with a temporary SQLite file, plays a short conversation between
 * three people in Chromium (CHROMIUM_PATH, default /usr/bin/chromium) and captures one of them
 * while the assistant is streaming, with a thread open.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ScriptedProvider } from 'parley-chat';
import { createApp } from './app.js';
import { loadConfig } from './config.js';

const output = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'screenshot.png');
const SUMMARY =
  'Here is a summary of the thread so far: the beta ships on Friday, Grace owns the release notes, and Ada will ' +
  'check the Bernoulli table before the demo. Open questions: who reviews the compiler patch, and whether the docs ' +
  'need a new screenshot.';

const dataDir = mkdtempSync(join(tmpdir(), 'parley-screenshot-'));
const app = await createApp({
  ...loadConfig({ PARLEY_DATA_DIR: dataDir }),
  port: 0,
  host: '127.0.0.1',
  llmProvider: new ScriptedProvider({ tokensPerSecond: 12, reply: SUMMARY }),
});
const url = await app.listen();

// Some history, written as trusted server calls (no rate limits), so the sidebar has unread counts.
const { engine } = app;
await engine.createSession({ id: 'design-review', title: 'Design review', createdBy: 'ada-lovelace', memberIds: ['grace-hopper', 'alan-turing'] });
for (let i = 1; i <= 36; i++) {
  await engine.createMessage({ sessionId: 'design-review', userId: i % 2 ? 'alan-turing' : 'ada-lovelace', content: `Design note ${i}.` }, { trusted: true });
}
await engine.createSession({ id: 'random', title: 'Random', createdBy: 'grace-hopper', memberIds: ['ada-lovelace'] });
await engine.createMessage({ sessionId: 'random', userId: 'grace-hopper', content: 'Anyone up for lunch?' }, { trusted: true });
await engine.createMessage({ sessionId: 'random', userId: 'grace-hopper', content: 'The place on 5th street has a new menu.' }, { trusted: true });

const browser: Browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

try {
  const ada = await signIn('Ada Lovelace');
  const grace = await signIn('Grace Hopper');
  const alan = await signIn('Alan Turing');

  await ada.getByTestId('new-session').click();
  await ada.getByTestId('new-session-title').fill('Analytical Engine launch');
  await ada.getByTestId('new-session-members').fill('grace-hopper, alan-turing');
  await ada.getByTestId('new-session-create').click();
  await ada.waitForSelector('#room-main:not([hidden])');
  for (const page of [grace, alan]) {
    await page.reload();
    await page.locator('.session', { hasText: 'Analytical Engine launch' }).click();
  }

  await send(ada, 'Morning both! Where are we with the launch?');
  await send(grace, 'The beta build is green. Release notes are half done.');
  await grace.getByTestId('attach-toggle').click();
  await grace.getByTestId('attach-url').fill('https://example.com/notes/release-notes-draft.pdf');
  await grace.getByTestId('attach-add').click();
  await send(grace, 'Draft attached, comments welcome.');
  await send(alan, 'I reviewed the compiler patch — two small nits, otherwise good to go.');
  for (const [page, emoji] of [[ada, '🎉'], [alan, '🎉'], [ada, '👍']] as const) {
    await action(page, 'beta build is green', `.action-emoji[data-emoji="${emoji}"]`);
  }
  await reply(ada, 'compiler patch', 'Thanks Alan! Which nits?');
  await reply(alan, 'compiler patch', 'Naming in the loop counter, and a missing test for the carry.');

  await ada.getByTestId('composer-input').fill('Can you summarise where we are?');
  await ada.getByTestId('ask').click();
  await ada.waitForTimeout(2600); // part of the answer, still streaming
  await grace.getByTestId('composer-input').pressSequentially('On it', { delay: 40 });
  await ada.mouse.move(5, 5); // no hover toolbar in the picture
  await ada.waitForTimeout(300);
  await ada.screenshot({ path: output });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}

async function signIn(name: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.getByTestId('signin-name').fill(name);
  await page.getByTestId('signin-submit').click();
  await page.waitForSelector('#chat:not([hidden])');
  return page;
}

function message(page: Page, text: string) {
  return page.locator('#messages .msg', { has: page.locator('.msg-text', { hasText: text }) });
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-input').press('Enter');
  await message(page, text).waitFor();
}

async function action(page: Page, text: string, selector: string): Promise<void> {
  await message(page, text).hover();
  await message(page, text).locator(selector).click();
  await page.waitForTimeout(100);
}

async function reply(page: Page, text: string, content: string): Promise<void> {
  await action(page, text, '.action-reply');
  await page.getByTestId('thread-input').fill(content);
  await page.getByTestId('thread-input').press('Enter');
  await page.getByTestId('thread-replies').getByText(content).waitFor();
}
