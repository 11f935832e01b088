/**
 * The reference app picks its assistant from the environment: the scripted demo by default, an
 * OpenAI-compatible server with OPENAI_BASE_URL, Anthropic's Messages API with ANTHROPIC_API_KEY —
 * here against a local server speaking the Messages API's stream byte for byte.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type ParleyApp } from '../../examples/server/app.js';
import { loadConfig } from '../../examples/server/config.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { sseTranscript } from '../llm/transcripts/index.js';

const KEY = 'sk-ant-api03-reference-app';

describe('the reference app’s assistant, chosen by the environment', () => {
  let fake: FakeOpenAI;
  let app: ParleyApp;
  let dataDir: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: KEY, transcripts: [sseTranscript('anthropic-text.sse', { delayMs: 1 })] });
    dataDir = mkdtempSync(join(tmpdir(), 'parley-providers-'));
    const env = { PARLEY_DATA_DIR: dataDir, ANTHROPIC_API_KEY: KEY, ANTHROPIC_MODEL: 'anthropic-text', ANTHROPIC_BASE_URL: fake.origin };
    app = await createApp({ ...loadConfig(env), port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await fake?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('ANTHROPIC_API_KEY selects the Anthropic provider, and an answer streams from it', async () => {
    expect(app.describe.llm).toBe('Anthropic Messages API, model anthropic-text');
    const session = await app.engine.createSession({ title: 'Orders', createdBy: 'ada' });
    const content = await new Promise<string>((resolve, reject) => {
      void app.engine
        .requestStream({ sessionId: session.id, prompt: 'Where is A-1042?', userId: 'ada', agentId: 'assistant' }, { onComplete: (r) => resolve(r.content), onError: reject })
        .catch(reject);
    });
    expect(content).toBe('Order A-1042 has shipped.');
    expect(fake.requests.at(-1)?.headers['x-api-key']).toBe(KEY);
  });

  it('the scripted demo answers when no provider is configured, and both providers at once are refused', () => {
    expect(loadConfig({}).llm).toEqual({ kind: 'scripted' });
    expect(loadConfig({ ANTHROPIC_API_KEY: KEY }).llm).toEqual({ kind: 'anthropic', apiKey: KEY, model: 'claude-sonnet-4-5' });
    expect(() => loadConfig({ ANTHROPIC_API_KEY: KEY, OPENAI_BASE_URL: 'http://localhost:11434/v1' })).toThrow(/unset one of them/);
  });
});
