import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatEngine, MemoryStorage, type StreamChunk } from 'parley-chat';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { freePort } from '../support/free-port.js';

/**
 * The OpenAI path against a server nobody on this project wrote: `@dwmkerr/mock-llm` (npm), started
 * here on 127.0.0.1. It streams chat completions in its own framing (50-character chunks by
 * default, here 4, `[DONE]`, no usage) and answers with what it parsed of our request — the user
 * messages' `name`s and the message count — so the answer shows the request as a third-party
 * parser read it.
 */
const CONFIG = `
streaming:
  chunkSize: 4
  chunkIntervalMs: 5
rules:
  - path: "/v1/chat/completions"
    method: "POST"
    match: "@"
    response:
      status: 200
      content: |
        {
          "id": "chatcmpl-{{timestamp}}",
          "object": "chat.completion",
          "created": 1,
          "model": "{{jmes request body.model}}",
          "choices": [{
            "index": 0,
            "message": {
              "role": "assistant",
              "content": "names {{jmes request join(' ', body.messages[?role=='user'].name)}} of {{jmes request length(body.messages)}}: {{jmes request body.messages[-1].content}}"
            },
            "finish_reason": "stop"
          }]
        }
`;

let server: ChildProcess;
let baseURL: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parley-mock-llm-'));
  writeFileSync(join(dir, 'mock-llm.yaml'), CONFIG);
  const main = createRequire(import.meta.url).resolve('@dwmkerr/mock-llm/dist/main.js');
  const port = await freePort();
  server = spawn(process.execPath, [main, '--config', join(dir, 'mock-llm.yaml')], { env: { ...process.env, HOST: '127.0.0.1', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`mock-llm did not start: ${output}`)), 15_000);
    const listen = (data: Buffer) => {
      output += data.toString();
      if (output.includes('server running')) {
        clearTimeout(timer);
        resolve();
      }
    };
    server.stdout!.on('data', listen);
    server.stderr!.on('data', listen);
    server.once('exit', (code) => reject(new Error(`mock-llm exited with ${code}: ${output}`)));
  });
  baseURL = `http://127.0.0.1:${port}/v1`;
}, 20_000);

afterAll(() => {
  server?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('OpenAICompatibleProvider against @dwmkerr/mock-llm', () => {
  it('streams the answer in its chunks, stores it with its text part, and the server read each author name', async () => {
    const engine = new ChatEngine({
      storage: new MemoryStorage(),
      rateLimits: NO_RATE_LIMITS,
      llm: new OpenAICompatibleProvider({ baseURL, apiKey: 'sk-test', model: 'gpt-4o-mini' }),
      agents: { assistant: { systemPrompt: 'Be brief.', context: { maxTokens: 1000 } } },
      streamDelayMs: 0,
    });
    await engine.init();
    try {
      const { id: sessionId } = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
      await engine.createMessage({ sessionId, userId: 'bob', content: 'Hi all' });
      const chunks: StreamChunk[] = [];
      engine.on('stream.chunk', (chunk) => chunks.push(chunk));
      const ended = new Promise<string>((resolve) => {
        for (const event of ['stream.completed', 'stream.stopped', 'stream.error'] as const) engine.once(event, () => resolve(event));
      });
      const { messageId } = await engine.requestStream({ sessionId, prompt: 'Hello there', userId: 'alice' });
      expect(await ended).toBe('stream.completed');

      const expected = 'names bob alice of 3: Hello there';
      const answer = await engine.getMessage(messageId);
      expect(answer.content).toBe(expected);
      expect(answer.parts).toEqual([{ type: 'text', text: expected }]);
      expect(chunks.map((c) => c.delta).join('')).toBe(expected);
      expect(chunks.length).toBeGreaterThan(2); // it arrived in pieces, not as one frame
    } finally {
      await engine.close();
    }
  });
});
