/**
 * How much script the reference page runs while an answer streams into a conversation with N
 * messages on screen (older pages loaded until all are shown), in Chromium:
 *
 *   npx tsx scripts/measure-page.ts [N=100]
 *
 * Prints the page's script time over the answer (Chromium's ScriptDuration), long tasks, DOM
 * mutation records in the timeline, and the functions that took the most of it. One answer of 150
 * words at 50 tokens/s (~3 s); the machine's load moves the figures, so compare runs side by side.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ScriptedProvider } from 'parley-chat';
import { createApp } from '../examples/server/app.js';
import { loadConfig } from '../examples/server/config.js';

const N = Number(process.argv[2] ?? 100);
const dataDir = mkdtempSync(join(tmpdir(), 'parley-measure-'));
const reply = Array.from({ length: 150 }, (_, i) => `word${i}`).join(' ');
const app = await createApp({ ...loadConfig({ PARLEY_DATA_DIR: dataDir, STREAM_DELAY: '20' }), port: 0, host: '127.0.0.1', llmProvider: new ScriptedProvider({ tokensPerSecond: 50, reply }) });
const url = await app.listen();
await app.engine.createSession({ id: 'big', title: 'Big', createdBy: 'mia-measure' });
for (let i = 1; i <= N; i++) {
  await app.engine.createMessage({ sessionId: 'big', userId: 'mia-measure', content: `Message **${i}** with \`code\` and a [link](https://example.com/${i}).` }, { trusted: true });
}
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await page.goto(url);
  await page.getByTestId('signin-name').fill('Mia Measure');
  await page.getByTestId('signin-submit').click();
  await page.locator('.session', { hasText: 'Big' }).click();
  await page.locator('#messages .msg-text', { hasText: `Message ${N} with` }).waitFor();
  while (await page.getByTestId('load-older').isVisible()) {
    await page.getByTestId('load-older').click();
    await page.waitForTimeout(300);
  }
  const shown = await page.locator('#messages .msg').count();

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  const scriptTime = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ScriptDuration')!.value;
  const before = await scriptTime();
  await cdp.send('Profiler.start');
  await page.evaluate(() => {
    const w = globalThis as any; // runs in the page; this tsconfig has no DOM types
    w.longTasks = [];
    new w.PerformanceObserver((list: any) => {
      for (const entry of list.getEntries()) w.longTasks.push(entry.duration);
    }).observe({ type: 'longtask' });
    w.mutations = 0;
    new w.MutationObserver((records: unknown[]) => (w.mutations += records.length)).observe(w.document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
  });
  await page.getByTestId('composer-input').fill('Say many words');
  await page.getByTestId('ask').click();
  // Polled twice a second: a locator's wait polls every frame, and its script would count as the page's.
  await page.waitForFunction(() => (globalThis as any).document.querySelector('#messages .msg-assistant[data-status="completed"]'), null, { polling: 500, timeout: 30_000 });
  const { profile } = await cdp.send('Profiler.stop');
  const after = await scriptTime();
  const { longTasks, mutations } = await page.evaluate(() => ({ longTasks: (globalThis as any).longTasks as number[], mutations: (globalThis as any).mutations as number }));

  const sampled = new Map<number, number>();
  profile.samples!.forEach((id, i) => sampled.set(id, (sampled.get(id) ?? 0) + (profile.timeDeltas![i] ?? 0)));
  const selfMs = new Map<string, number>();
  for (const node of profile.nodes) {
    const name = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').pop()}:${node.callFrame.lineNumber + 1}`;
    if (!name.startsWith('(idle)') && !name.startsWith('(program)')) selfMs.set(name, (selfMs.get(name) ?? 0) + (sampled.get(node.id) ?? 0) / 1000);
  }
  console.log(JSON.stringify({ messages: N, shown, scriptMsDuringAnswer: Math.round((after - before) * 1000), longTasks: longTasks.length, longestTaskMs: Math.round(Math.max(0, ...longTasks)), mutationRecords: mutations }));
  for (const [name, ms] of [...selfMs].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${ms.toFixed(0).padStart(6)} ms  ${name}`);
} finally {
  await browser.close();
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}
