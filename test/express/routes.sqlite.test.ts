import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from 'parley-chat/sqlite';
import { afterAll } from 'vitest';
import { describeRestRoutes } from './route-suite.js';

// The same suite on a SQLite file: the wire shapes hold whatever the storage returns.
const dir = mkdtempSync(join(tmpdir(), 'parley-express-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeRestRoutes('SqliteStorage', () => new SqliteStorage({ filename: join(dir, 'chat.db') }));
