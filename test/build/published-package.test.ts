import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subpaths } from '../../subpaths.js';

/**
 * What `npm publish` would ship, checked from the tarball itself: the files (no source maps, under a
 * size budget); the packages each subpath's declaration files reach (only declared ones, and for a
 * TypeScript user of that subpath only what the README's install section lists for it); and a
 * consumer project using every subpath, from ESM and from CommonJS, that type-checks — strict,
 * `skipLibCheck: false` — with only those packages installed. The package is built into a temporary
 * folder, so this file never races the other build test over ./dist.
 */
const root = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

/**
 * The tarball's budget: what it weighs today (1.53 MB unpacked, 0.40 MB packed: each module ships
 * four times, ESM, CommonJS and their declarations) plus room to grow.
 */
const MAX_UNPACKED_BYTES = 1_700_000;
const MAX_PACKED_BYTES = 450_000;

/**
 * What a TypeScript user installs next to parley-chat for each subpath — the README's install
 * section, which must say the same.
 */
const INSTALLS: Record<string, string[]> = {
  'parley-chat': [],
  'parley-chat/sqlite': ['better-sqlite3', '@types/better-sqlite3'],
  'parley-chat/postgres': ['pg', '@types/pg'],
  'parley-chat/socket.io': ['socket.io'],
  'parley-chat/express': ['express', '@types/express'],
  'parley-chat/openai': [],
  'parley-chat/anthropic': [],
  'parley-chat/client': ['socket.io-client'],
  'parley-chat/react': ['socket.io-client', 'react', '@types/react'],
  'parley-chat/testing': ['vitest'],
};

/** A user's code for each subpath: the calls the README shows. */
const CONSUMERS: Record<string, string> = {
  'parley-chat': `
    import { ChatEngine, MemoryStorage, ScriptedProvider, configFromEnv, jwtAuthenticator, type Message } from 'parley-chat';
    const engine = new ChatEngine({ storage: new MemoryStorage(), llm: new ScriptedProvider(), ...configFromEnv({}) });
    engine.on('message.created', ({ message }: { message: Message }) => message.content.length);
    export const authenticate = jwtAuthenticator({ secret: 'x'.repeat(32) });
    export const ready: Promise<void> = engine.init();
    // The engine's own parts are neither exported nor reachable through it.
    // @ts-expect-error internal
    import type { WriteBatcherInternals } from 'parley-chat';
    // @ts-expect-error internal
    import { newId } from 'parley-chat';
    // @ts-expect-error private
    void engine.storage;
    // @ts-expect-error private
    void engine.rateLimiter;
    // @ts-expect-error private
    void engine.moderation;`,
  'parley-chat/sqlite': `
    import { ChatEngine } from 'parley-chat';
    import { SqliteStorage } from 'parley-chat/sqlite';
    export const engine = new ChatEngine({ storage: new SqliteStorage({ filename: 'chat.db' }) });`,
  'parley-chat/postgres': `
    import { ChatEngine } from 'parley-chat';
    import { PostgresStorage } from 'parley-chat/postgres';
    export const engine = new ChatEngine({ storage: new PostgresStorage({ connectionString: 'postgres://localhost/chat', schema: 'chat' }) });`,
  'parley-chat/socket.io': `
    import { createServer } from 'node:http';
    import { Server } from 'socket.io';
    import { ChatEngine, MemoryStorage, jwtAuthenticator } from 'parley-chat';
    import { attachChat, type ServerToClientEvents } from 'parley-chat/socket.io';
    const engine = new ChatEngine({ storage: new MemoryStorage() });
    const io = new Server(createServer());
    export const binding = attachChat(io, engine, { authenticate: jwtAuthenticator({ secret: 'x'.repeat(32) }) });
    export const onComplete: ServerToClientEvents['stream:complete'] = ({ tokens }) => void tokens;`,
  'parley-chat/express': `
    import express from 'express';
    import { ChatEngine, MemoryStorage, jwtAuthenticator } from 'parley-chat';
    import { chatErrorHandler, createChatRouter } from 'parley-chat/express';
    const engine = new ChatEngine({ storage: new MemoryStorage() });
    const app = express();
    app.use('/api/chat', createChatRouter(engine, { authenticate: jwtAuthenticator({ secret: 'x'.repeat(32) }) }));
    app.use(chatErrorHandler());
    export default app;`,
  'parley-chat/openai': `
    import { ChatEngine, MemoryStorage } from 'parley-chat';
    import { OpenAICompatibleProvider } from 'parley-chat/openai';
    const llm = new OpenAICompatibleProvider({ baseURL: 'http://localhost:11434/v1', model: 'llama3.2' });
    export const engine = new ChatEngine({ storage: new MemoryStorage(), llm, agents: { assistant: { systemPrompt: 'Be brief.' } } });`,
  'parley-chat/anthropic': `
    import { ChatEngine, MemoryStorage } from 'parley-chat';
    import { AnthropicProvider } from 'parley-chat/anthropic';
    const llm = new AnthropicProvider({ apiKey: 'sk-ant-test', model: 'claude-sonnet-4-5' });
    export const engine = new ChatEngine({ storage: new MemoryStorage(), llm, agents: { assistant: { systemPrompt: 'Be brief.' } } });`,
  'parley-chat/client': `
    import { createChatClient, type ChatMessage } from 'parley-chat/client';
    const client = createChatClient({ url: 'http://localhost:3000', token: async () => 'token', persistence: 'memory' });
    const room = client.session('support');
    export const unsubscribe = room.subscribe(() => room.getSnapshot().messages.map((m: ChatMessage) => m.status + ': ' + m.content));
    export const sent = room.send('hello');`,
  'parley-chat/react': `
    import { createElement } from 'react';
    import { createChatClient } from 'parley-chat/client';
    import { ChatProvider, useSession } from 'parley-chat/react';
    function Room({ id }: { id: string }) {
      const { messages, send } = useSession(id);
      return createElement('button', { onClick: () => void send('hi') }, String(messages.length));
    }
    const client = createChatClient({ url: 'http://localhost:3000', token: 'token' });
    export const app = createElement(ChatProvider, { client }, createElement(Room, { id: 'support' }));`,
  'parley-chat/testing': `
    import { MemoryStorage } from 'parley-chat';
    import { describeStorageAdapter } from 'parley-chat/testing';
    describeStorageAdapter({ name: 'memory', create: () => new MemoryStorage() });`,
};

let work: string;
/** `npm pack --json`'s account of the tarball. */
let packed: { filename: string; size: number; unpackedSize: number; files: { path: string; size: number }[] };
let unpacked: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'parley-pack-'));
  const pkgDir = join(work, 'pkg');
  execFileSync(join(root, 'node_modules', '.bin', 'tsup'), ['--out-dir', join(pkgDir, 'dist')], { cwd: root, stdio: 'pipe' });
  for (const file of ['package.json', 'README.md', 'CHANGELOG.md']) cpSync(join(root, file), join(pkgDir, file));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: pkgDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  packed = (JSON.parse(out) as (typeof packed)[])[0]!;
  execFileSync('tar', ['xzf', join(work, packed.filename), '-C', work]);
  unpacked = join(work, 'package');
}, 240_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Module specifiers a declaration file imports or re-exports. */
function importsOf(source: string): string[] {
  return [...source.matchAll(/^(?:import|export)\b[^'"]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)].map((m) => m[1] ?? m[2]!);
}

const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/** The packages a published declaration file reaches, following the package's own files. */
function packagesReachedFrom(file: string, seen = new Set<string>()): Set<string> {
  const reached = new Set<string>();
  if (seen.has(file)) return reached;
  seen.add(file);
  for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
    if (!specifier.startsWith('.')) reached.add(packageOf(specifier));
    else for (const name of packagesReachedFrom(join(dirname(file), specifier.replace(/\.(c?)js$/, '.d.$1ts')), seen)) reached.add(name);
  }
  return reached;
}

/** Whether a package has declarations of its own; one without needs `@types/<name>`. */
function shipsTypes(name: string): boolean {
  const dir = join(root, 'node_modules', name);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { types?: string; typings?: string; exports?: unknown; main?: string };
  if (manifest.types || manifest.typings || JSON.stringify(manifest.exports ?? {}).includes('"types"')) return true;
  const main = join(dir, manifest.main ?? 'index.js');
  return existsSync(join(dir, 'index.d.ts')) || existsSync(main.replace(/\.c?js$/, '.d.ts'));
}

/** The declaration file a subpath's `import` condition points at, in the unpacked tarball. */
function declarationsOf(subpath: string): string {
  const key = subpath === 'parley-chat' ? '.' : `./${subpath.slice('parley-chat/'.length)}`;
  const manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { exports: Record<string, { import: { types: string } }> };
  return join(unpacked, manifest.exports[key]!.import.types);
}

describe('the published tarball', () => {
  it(`holds the built files, README and CHANGELOG only: no source maps, no sources, under ${MAX_UNPACKED_BYTES / 1e6} MB unpacked`, () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths.filter((p) => p.endsWith('.map'))).toEqual([]);
    expect(paths.filter((p) => !p.startsWith('dist/') && !['package.json', 'README.md', 'CHANGELOG.md'].includes(p))).toEqual([]);
    expect(paths.filter((p) => /\.(ts|cts|mts)$/.test(p) && !/\.d\.c?ts$/.test(p))).toEqual([]);
    expect(packed.unpackedSize).toBeLessThan(MAX_UNPACKED_BYTES);
    expect(packed.size).toBeLessThan(MAX_PACKED_BYTES);
  });

  it('its declaration files import only packages it declares; an untyped peer has its @types declared too', () => {
    const declared = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)]);
    const imported = new Set<string>();
    for (const file of readdirSync(join(unpacked, 'dist')).filter((f) => /\.d\.c?ts$/.test(f))) {
      for (const name of packagesReachedFrom(join(unpacked, 'dist', file))) imported.add(name);
    }
    expect([...imported].filter((name) => !declared.has(name))).toEqual([]);
    for (const name of imported) {
      if (shipsTypes(name)) continue;
      expect(pkg.peerDependencies, `${name} has no types of its own`).toHaveProperty([`@types/${name}`]);
      expect(pkg.peerDependenciesMeta[`@types/${name}`]?.optional).toBe(true);
    }
  });

  it('each subpath’s declarations need only parley-chat’s dependencies and what the README lists for that subpath', () => {
    for (const [subpath, installs] of Object.entries(INSTALLS)) {
      const needed = [...packagesReachedFrom(declarationsOf(subpath))].filter((name) => !(name in pkg.dependencies));
      const missing = needed.flatMap((name) => [name, ...(shipsTypes(name) ? [] : [`@types/${name}`])]).filter((name) => !installs.includes(name));
      expect(missing, subpath).toEqual([]);
    }
  });
});

/**
 * A consumer project: the unpacked tarball as node_modules/parley-chat (a copy, so its imports
 * resolve from the consumer, as after `npm install`), parley-chat's own dependencies, and `installs`
 * linked from this repository's node_modules. Its ESM files sit at the top (`"type": "module"`), its
 * CommonJS files in cjs/ (`"type": "commonjs"`): one tsc run checks both. Throws with tsc's output.
 */
function typeCheck(files: Record<string, string>, installs: string[]): void {
  const dir = join(work, 'consumer');
  const modules = join(dir, 'node_modules');
  mkdirSync(join(dir, 'cjs'), { recursive: true });
  mkdirSync(modules, { recursive: true });
  cpSync(unpacked, join(modules, 'parley-chat'), { recursive: true });
  for (const dependency of [...Object.keys(pkg.dependencies), ...installs]) {
    mkdirSync(dirname(join(modules, dependency)), { recursive: true });
    symlinkSync(join(root, 'node_modules', dependency), join(modules, dependency), 'dir');
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  writeFileSync(join(dir, 'cjs', 'package.json'), JSON.stringify({ type: 'commonjs' }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false },
      files: Object.keys(files),
    }),
  );
  for (const [file, source] of Object.entries(files)) writeFileSync(join(dir, file), source);
  try {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`the consumer does not type-check with only ${installs.join(', ')} installed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

describe('a TypeScript project using the package, with only what the README lists installed', () => {
  it('has a consumer and an install line for every subpath', () => {
    const exported = subpaths().map((s) => s.specifier);
    expect(Object.keys(CONSUMERS).sort()).toEqual(exported.sort());
    expect(Object.keys(INSTALLS).sort()).toEqual(exported.sort());
  });

  it('type-checks every subpath from ESM and from CommonJS (strict, skipLibCheck off)', () => {
    const files: Record<string, string> = {};
    for (const [name, source] of Object.entries(CONSUMERS)) {
      const file = `${name.replace(/\W+/g, '-')}.ts`;
      files[file] = source;
      files[`cjs/${file}`] = source;
    }
    typeCheck(files, [...new Set(Object.values(INSTALLS).flat())]);
  }, 180_000);
});
