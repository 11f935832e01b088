import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subpaths } from '../../subpaths.js';

/**
 * Every subpath of package.json "exports" builds and imports from the built package, in ESM and in
 * CJS, from a project that depends on parley-chat the way a user's does (node_modules/parley-chat).
 */
const root = resolve(import.meta.dirname, '../..');
const specifiers = subpaths().map((s) => s.specifier);

// What each entry must export at run time.
const EXPECTED: Record<string, string[]> = {
  'parley-chat': ['ChatEngine', 'ChatError', 'MemoryStorage', 'jwtAuthenticator', 'configFromEnv', 'ProfanityFilter', 'schemas', 'ScriptedProvider'],
  'parley-chat/testing': ['describeStorageAdapter'],
  'parley-chat/sqlite': ['SqliteStorage'],
  'parley-chat/postgres': ['PostgresStorage'],
  'parley-chat/socket.io': ['attachChat'],
  'parley-chat/express': ['createChatRouter'],
  'parley-chat/openai': ['OpenAICompatibleProvider'],
  'parley-chat/anthropic': ['AnthropicProvider'],
  'parley-chat/client': ['createChatClient', 'memoryPersistence', 'localStoragePersistence', 'ChatError'],
  'parley-chat/react': ['ChatProvider', 'useChatClient', 'useSessions', 'useSession'],
};

/**
 * What the root must not export: the engine's own parts. Users may not depend on them (they change
 * with the engine); tests and benchmarks import them from the sources.
 */
const INTERNAL = [
  'WriteBatcher',
  'newId',
  'parseInput',
  'buildSchemas',
  'RateLimiter',
  'ModerationPipeline',
  'normalizeText',
  'searchTerms',
  'withRetryAfter',
  'isServerFault',
  'StreamCoordinator',
  'ActiveStream',
];

let project: string;
beforeAll(() => {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
  project = mkdtempSync(join(tmpdir(), 'parley-consumer-'));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(root, join(project, 'node_modules', 'parley-chat'), 'dir');
}, 180_000);
afterAll(() => rmSync(project, { recursive: true, force: true }));

function run(file: string, source: string): string[] {
  writeFileSync(join(project, file), source);
  const out = execFileSync(process.execPath, [join(project, file)], { cwd: project, encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

describe('built package', () => {
  it('exports every entry of package.json', () => {
    expect([...specifiers].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it('parley-chat exports none of the engine’s internals', () => {
    const keys = run('internals.mjs', `const m = await import('parley-chat'); console.log(JSON.stringify(Object.keys(m)));`);
    expect(keys.filter((key) => INTERNAL.includes(key))).toEqual([]);
  });

  for (const name of specifiers) {
    if (name === 'parley-chat/testing') {
      // Its code calls vitest's describe/it at import, which only works inside a vitest run: check
      // that both conditions resolve to built files that define the suite.
      it(`${name} resolves for ESM and CJS to the built suite`, () => {
        const files = run(
          'resolve.mjs',
          `import { createRequire } from 'node:module'; import { fileURLToPath } from 'node:url';
           const esm = fileURLToPath(import.meta.resolve('parley-chat/testing'));
           const cjs = createRequire(import.meta.url).resolve('parley-chat/testing');
           console.log(JSON.stringify([esm, cjs]));`,
        );
        expect(files.map((f) => f.replace(/^.*\/dist\//, 'dist/'))).toEqual(['dist/testing.js', 'dist/testing.cjs']);
        for (const f of files) expect(readFileSync(f, 'utf8')).toContain('describeStorageAdapter');
      });
      continue;
    }
    it(`${name} imports as ESM`, () => {
      const keys = run('esm.mjs', `const m = await import(${JSON.stringify(name)}); console.log(JSON.stringify(Object.keys(m)));`);
      expect(keys).toEqual(expect.arrayContaining(EXPECTED[name]!));
    });
    it(`${name} requires as CJS`, () => {
      const keys = run('cjs.cjs', `const m = require(${JSON.stringify(name)}); console.log(JSON.stringify(Object.keys(m)));`);
      expect(keys).toEqual(expect.arrayContaining(EXPECTED[name]!));
    });
  }

  it('the CJS and ESM builds both run the engine end to end', () => {
    const script = (load: string) => `
      ${load}
      const engine = new ChatEngine({ storage: new MemoryStorage() });
      (async () => {
        await engine.init();
        const s = await engine.createSession({ createdBy: 'a' });
        const m = await engine.createMessage({ sessionId: s.id, userId: 'a', content: 'hello' });
        console.log(JSON.stringify([m.content, m.seq]));
      })();`;
    expect(run('e2e.cjs', script(`const { ChatEngine, MemoryStorage } = require('parley-chat');`))).toEqual(['hello', 1]);
    expect(run('e2e.mjs', script(`import { ChatEngine, MemoryStorage } from 'parley-chat';`))).toEqual(['hello', 1]);
  });
});
